"""0 leaks: the hr pay note is quoted only in the channel the scopes file maps to hr (real bolt, real HTTP).

Every question (two only the hr note answers, two the general documents answer, a follow-up of each kind)
is asked in a mapped channel, an unmapped one and a DM, as a mention or DM, a thread follow-up and /ask with
Share; every answer's Sources and vote buttons are pressed. Nothing the stand-in received outside the mapped
channel (Web API calls, response_url posts) holds a sentence, figure or file name of the hr note, nor does
any answer kept for those channels' buttons cite or hold an hr passage; in the mapped channel the hr
questions are answered from it.

Bad input tried: Sources, Share and vote presses forged in the unmapped channel and the DM with an hr
answer's id; the mapped channel narrowed under the running bot (the file rewritten; a same-size rewrite
with the old mtime, then SIGHUP's request_reread), then old hr answers' Sources, Share and threads used.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bot.slack.app import GONE, SlackBot
from bot.slack.feedback import FeedbackStore
from bot.slack.scopes import LiveScopes
from bot.slack.settings import SlackSettings
from bot.slack.votes import THANKS
from retrieval.engine import Engine
from retrieval.inference.embedder import Embedder
from tests.bot.slack.harness import FOLLOW_UP, Running, button_value, mention, posted, running
from tests.conftest import SEED_FILE, STOCKHOLM, make_engine
from tests.helpers.slack_standin import SlackStandIn, action_body, slash_body

MAPPED, UNMAPPED, DM = "C0HR", "C0GEN", "D0DM"
HR_FILE = "paybands.md"
HR_DOC = (
    "# Pay bands 2026\n\nThe salary band for a senior engineer is 91,500 to 118,250 zorkmids a year.\n\n"
    "Staff engineers are paid between 127,000 and 149,900 zorkmids.\n\n"
    "The annual bonus pool is 7.5 percent of payroll, paid out on 14 November.\n"
)
# What of the hr note may never reach another channel: each sentence's own figures and words, its file.
HR_MARKERS = ("zorkmid", "91,500", "118,250", "127,000", "149,900", "7.5 percent", "14 November", "paybands")
CANTEEN_DOC = (
    "# Canteen\n\nLunch is served from noon to two.\n\nOn Fridays the canteen closes at one o'clock.\n"
)
SALARY, BONUS = "What is the salary band for a senior engineer?", "When is the annual bonus paid out?"
CANTEEN = "When does the canteen close on Fridays?"
QUESTIONS = (SALARY, BONUS, STOCKHOLM, CANTEEN)
FOLLOW_UPS = {SALARY: "and what about staff engineers?", STOCKHOLM: FOLLOW_UP}
WIDE = '[channels]\nC0HR = ["hr", "citebot"]\n'
NARROW = '[channels]\nC0HR = ["citebot"]\n'  # padded by stamp_kept to the file's size


@pytest.fixture(scope="module")
def store_engine(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Engine:
    """One store: `citebot` holds the seed editorial and a canteen note, `hr` the pay note."""
    root = tmp_path_factory.mktemp("scopes")
    for folder in ("general", "hr"):
        (root / folder).mkdir()
    shutil.copy(SEED_FILE, root / "general" / SEED_FILE.name)
    (root / "general" / "canteen.md").write_text(CANTEEN_DOC, encoding="utf-8")
    (root / "hr" / HR_FILE).write_text(HR_DOC, encoding="utf-8")
    engine = make_engine(root / "store", embedder)
    assert engine.ingest([root / "general"]).added == 2
    hr_config = replace(engine.config, location=replace(engine.config.location, collection="hr"))
    assert Engine(hr_config, embedder=embedder).ingest([root / "hr"]).added == 1
    engine.ask(STOCKHOLM)  # builds the chain once, outside the tests
    return engine


@pytest.fixture
def live(tmp_path: Path, store_engine: Engine) -> LiveScopes:
    """The scopes file: C0HR reads hr and citebot; every other channel and DMs read the default, citebot."""
    path = tmp_path / "scopes.toml"
    path.write_text(WIDE, encoding="utf-8")
    return LiveScopes(path, "citebot", store_engine.store.collections)


def direct(slack: SlackStandIn, text: str, thread_ts: str | None = None) -> dict[str, Any]:
    """A message.im event, its message also seeded in the stand-in."""
    ts = slack.new_ts()
    slack.add_message(DM, ts, text, "U1", thread_ts=thread_ts)
    event = {"type": "message", "channel": DM, "channel_type": "im", "user": "U1", "text": text, "ts": ts}
    return event | ({"thread_ts": thread_ts} if thread_ts else {})


def ask_in(slack: SlackStandIn, channel: str, text: str, thread_ts: str | None = None) -> dict[str, Any]:
    """The event of a question asked in a channel (a mention) or the DM."""
    if channel == DM:
        return direct(slack, text, thread_ts)
    return mention(slack, text, channel=channel, thread_ts=thread_ts)


def leaked(value: Any) -> list[str]:
    """The hr note's markers found anywhere in a JSON-like value."""
    text = json.dumps(value, ensure_ascii=False)
    return [marker for marker in HR_MARKERS if marker in text]


def asked(message: dict[str, Any]) -> str:
    """The question a posted answer answers (its metadata)."""
    return str(message["metadata"]["event_payload"]["question"])


def kept_collections(path: Path) -> dict[str, set[str]]:
    """Per channel: the collections of every citation and passage of the answers kept for its buttons."""
    found: dict[str, set[str]] = {}
    with sqlite3.connect(path) as db:
        for channel, body in db.execute("SELECT channel, answer_json FROM answers"):
            answer = json.loads(body)
            used = {item["collection"] for item in answer["citations"] + answer["passages"]}
            found.setdefault(channel, set()).update(used)
    return found


def press(bot: Running, action: str, answer_id: str, channel: str, name: str) -> Any:
    """Press one of an answer's buttons in a channel; the reply posted to its response_url."""
    slack = bot.slack
    assert (
        bot.post(action_body(action, answer_id, "U2", channel, slack.response_url(name), slack.new_ts()))[0]
        == 200
    )
    return slack.wait_for_response(name)[-1]


def test_the_hr_note_is_quoted_only_where_mapped(
    store_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore, live: LiveScopes, tmp_path: Path
) -> None:
    """Every question in every channel kind: the hr note only ever reaches C0HR, and C0HR gets it."""
    channels = (MAPPED, UNMAPPED, DM)
    with running(store_engine, slack, feedback, scopes=live, rate_limit=1000, vote_limit=1000) as bot:
        firsts = {}
        for channel in channels:
            for question in QUESTIONS:
                firsts[channel, question] = event = ask_in(slack, channel, question)
                bot.send(event)
        slack.wait_for("chat.postMessage", count=len(firsts), timeout=60)
        for (channel, question), event in firsts.items():
            if question in FOLLOW_UPS:
                bot.send(ask_in(slack, channel, FOLLOW_UPS[question], thread_ts=event["ts"]))
        answered = len(firsts) + len(FOLLOW_UPS) * len(channels)
        slack.wait_for("chat.postMessage", count=answered, timeout=60)
        replies = {(m["channel"], asked(m)): m for m in posted(slack)}
        assert len(replies) == answered
        ephemeral: dict[tuple[str, str], Any] = {}
        for channel in channels:
            for n, question in enumerate(QUESTIONS):
                bot.post(
                    slash_body("/ask", question, "U1", channel, slack.response_url(f"{channel}-ask-{n}"))
                )
                ephemeral[channel, question] = slack.wait_for_response(f"{channel}-ask-{n}", timeout=30)[0]
        shared = []
        for n, ((channel, _), answer) in enumerate(ephemeral.items()):
            answer_id = button_value(answer, "citebot_share")
            shared.append(press(bot, "citebot_share", answer_id, channel, f"{channel}-share-{n}"))
        assert all(reply["delete_original"] is True for reply in shared), shared
        sources = {}
        for n, ((channel, question), message) in enumerate(replies.items()):
            answer_id = button_value(message, "citebot_sources")
            sources[channel, question] = press(
                bot, "citebot_sources", answer_id, channel, f"{channel}-src-{n}"
            )
            vote = press(bot, "citebot_helpful", answer_id, channel, f"{channel}-vote-{n}")
            assert vote["text"] == THANKS
        hr_ids = [button_value(replies[MAPPED, q], "citebot_sources") for q in (SALARY, BONUS)]
        hr_ids += [button_value(ephemeral[MAPPED, q], "citebot_share") for q in (SALARY, BONUS)]
        for n, answer_id in enumerate(hr_ids):
            for channel in (UNMAPPED, DM):
                for action in ("citebot_sources", "citebot_share"):
                    refused = press(bot, action, answer_id, channel, f"{channel}-forged-{action}-{n}")
                    assert refused["text"] == GONE, (channel, action)
                vote = press(bot, "citebot_not_helpful", answer_id, channel, f"{channel}-forged-vote-{n}")
                assert vote["text"] in (THANKS, GONE)
    # Nothing outside C0HR: every Web API call and every response_url post.
    outside = [c for c in slack.calls if c.params.get("channel") != MAPPED]
    # Two channels' answers and shares; no forged Share posted anything.
    expected_posts = 2 * (len(QUESTIONS) + len(FOLLOW_UPS)) + 2 * len(QUESTIONS)
    assert [c.method for c in outside].count("chat.postMessage") == expected_posts
    for call in outside:
        assert leaked(call.params) == [], (call.method, call.params)
    for name, bodies in slack.responses.items():
        if not name.startswith(MAPPED):
            assert leaked(bodies) == [], (name, bodies)
    kept = kept_collections(tmp_path / "feedback.sqlite3")
    assert kept[UNMAPPED] == kept[DM] == {"citebot"}
    assert kept[MAPPED] == {"hr", "citebot"}
    # ... and C0HR is answered from the hr note, in every kind, its buttons showing it.
    for question, figure in ((SALARY, "91,500"), (BONUS, "14 November")):
        for message in (replies[MAPPED, question], ephemeral[MAPPED, question]):
            assert figure in message["text"] and "[1]" in message["text"]
        assert figure in json.dumps(sources[MAPPED, question]["blocks"])
        assert HR_FILE in json.dumps(sources[MAPPED, question]["blocks"])
    assert leaked(replies[MAPPED, FOLLOW_UPS[SALARY]])
    mapped_shares = [
        m for m in posted(slack) if m["channel"] == MAPPED and m["text"].startswith("<@U2> asked:")
    ]
    assert sum("91,500" in m["text"] for m in mapped_shares) == 1
    # The general documents answer everywhere, so the unmapped channels were not simply silent.
    for channel in channels:
        assert "one o'clock" in replies[channel, CANTEEN]["text"]
        assert "one o'clock" in ephemeral[channel, CANTEEN]["text"]
        assert "[1]" in replies[channel, STOCKHOLM]["text"]
        assert "canteen.md" in json.dumps(sources[channel, CANTEEN]["blocks"])


def stamp_kept(path: Path, text: str) -> None:
    """Rewrite the file keeping its size and mtime (text padded with spaces): only request_reread (SIGHUP)
    can show the change."""
    before = path.stat()
    assert len(text) <= before.st_size
    path.write_text(text.ljust(before.st_size), encoding="utf-8")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def test_a_narrowed_scope_applies_to_the_next_question_and_to_old_buttons(
    store_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore, live: LiveScopes
) -> None:
    """C0HR narrowed to citebot (the file rewritten; then by a change only SIGHUP reveals): the next hr
    question, a follow-up in an old hr thread, and the Sources and Share of answers given before, all
    refuse or answer without the hr note; widened again, hr answers return."""
    path = live.path
    assert path is not None
    with running(store_engine, slack, feedback, scopes=live, rate_limit=1000, vote_limit=1000) as bot:

        def answer_to(event: dict[str, Any]) -> dict[str, Any]:
            """Send a mention in C0HR; its answer in the thread."""
            count = len(slack.calls_to("chat.postMessage")) + 1
            bot.send(event)
            reply: dict[str, Any] = slack.wait_for("chat.postMessage", count=count)[-1].params
            assert reply["thread_ts"] == event.get("thread_ts", event["ts"])
            return reply

        def ask_hr(tag: str) -> tuple[dict[str, Any], dict[str, Any]]:
            """The salary question in C0HR as a mention and as an /ask: (the reply, the ephemeral answer)."""
            reply = answer_to(mention(slack, SALARY, channel=MAPPED))
            bot.post(slash_body("/ask", SALARY, "U1", MAPPED, slack.response_url(f"{MAPPED}-ask-{tag}")))
            (ephemeral,) = slack.wait_for_response(f"{MAPPED}-ask-{tag}", timeout=30)
            return reply, ephemeral

        for narrow in ("rewritten", "sighup"):
            wide_reply, wide_ephemeral = ask_hr(f"wide-{narrow}")
            assert "91,500" in wide_reply["text"] and "91,500" in wide_ephemeral["text"], (
                narrow
            )  # the control
            sources_id = button_value(wide_reply, "citebot_sources")
            share_id = button_value(wide_ephemeral, "citebot_share")
            if narrow == "rewritten":
                path.write_text('[channels]\nC0HR = ["citebot"]\n', encoding="utf-8")
            else:
                stamp_kept(path, NARROW)
                live.request_reread()
            narrow_reply, narrow_ephemeral = ask_hr(f"narrow-{narrow}")
            assert leaked(narrow_reply) == leaked(narrow_ephemeral) == [], narrow
            for action, answer_id in (("citebot_sources", sources_id), ("citebot_share", share_id)):
                refused = press(bot, action, answer_id, MAPPED, f"{MAPPED}-old-{action}-{narrow}")
                assert refused["text"] == GONE, (narrow, action)
            follow_up = answer_to(
                mention(slack, FOLLOW_UPS[SALARY], channel=MAPPED, thread_ts=wide_reply["thread_ts"])
            )
            assert leaked(follow_up) == [], narrow
            # Widened again, at a size the file never had: seen before the next question without SIGHUP.
            path.write_text(f"{WIDE}# widened after {narrow}\n", encoding="utf-8")
        widened, _ = ask_hr("widened")
    assert "91,500" in widened["text"]


def test_an_answer_kept_before_collections_were_named_is_the_bots_own(
    store_engine: Engine, feedback: FeedbackStore, live: LiveScopes
) -> None:
    """Answers recorded by an older citebot carry no collection: they came from the bot's one collection,
    so their Sources still open where that collection is in scope, and nowhere else."""
    answer = store_engine.ask(CANTEEN)
    unnamed = answer.model_copy(
        update={
            "citations": [c.model_copy(update={"collection": ""}) for c in answer.citations],
            "passages": [p.model_copy(update={"collection": ""}) for p in answer.passages],
        }
    )
    answer_id = feedback.record_answer(unnamed, "U1", UNMAPPED)
    with ThreadPoolExecutor(max_workers=1) as workers:
        bot = SlackBot(store_engine, SlackSettings(bot_token="xoxb-test"), feedback, workers, live)
        replies: list[dict[str, Any]] = []
        body = {"actions": [{"value": answer_id}], "channel": {"id": UNMAPPED}, "user": {"id": "U1"}}
        bot.on_sources(body, lambda **reply: replies.append(reply))
        assert live.path is not None
        live.path.write_text('default = ["hr"]\n', encoding="utf-8")  # the bot's collection out of scope
        bot.on_sources(body, lambda **reply: replies.append(reply))
    assert replies[0]["text"] == "Sources" and "one o'clock" in json.dumps(replies[0]["blocks"])
    assert replies[1]["text"] == GONE
