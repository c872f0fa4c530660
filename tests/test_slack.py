"""The Slack door end to end: real slack-bolt served by uvicorn and over Socket Mode, against the stand-in."""

from __future__ import annotations

import http.client
import json
import logging
import random
import re
import shutil
import socket
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler

from bot.cli import cli
from bot.slack.app import THANKS, build_app
from bot.slack.blocks import ABSTAINED_TEXT, NOT_HERE, RATE_LIMITED, SORRY, escape
from bot.slack.feedback import FeedbackStore
from bot.slack.scopes import LiveScopes
from bot.slack.settings import SlackSettings
from bot.slack.transports import EVENTS_PATH, http_server
from retrieval.engine import Engine
from retrieval.errors import StoreError
from retrieval.inference.embedder import Embedder
from retrieval.types import Answer
from tests.conftest import SEED_FILE, STOCKHOLM, make_engine
from tests.slack_standin import SlackStandIn, action_body, event_body, sign, slash_body

SECRET = "s3cret"
BOT_TOKEN = "xoxb-test"
APP_TOKEN = "xapp-test"
FOLLOW_UP = "and what did the North want in return?"
DRILL = "When is the fire drill?"
CHAIN = "and what about China?"
PINGS = ("<!channel>", "<!here>", "<@U123>")
DRILL_DOC = (
    "# Fire drill\n\nThe fire drill is on Thursday at 10:00, and <!channel> <!here> and <@U123> must leave "
    "by the east stairs & meet at the car park.\n"
)
ACK_BUDGET_S = 3.0
# Slack's own limits, not the product's constants: https://api.slack.com/reference/block-kit/blocks
SLACK_SECTION_CHARS = 3000
SLACK_MAX_BLOCKS = 50
SLACK_BLOCKS_BUDGET = 12_000


@pytest.fixture(scope="module")
def shared_engine(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Engine:
    """One engine on one store (the seed editorial plus a document full of Slack pings), for every test."""
    root = tmp_path_factory.mktemp("slack")
    docs = root / "docs"
    docs.mkdir()
    shutil.copy(SEED_FILE, docs / SEED_FILE.name)
    (docs / "drill.md").write_text(DRILL_DOC, encoding="utf-8")
    engine = make_engine(root / "store", embedder)
    summary = engine.ingest([docs])
    assert (summary.added, summary.failed) == (2, 0)
    engine.ask(STOCKHOLM)  # builds the chain once, outside every test's timing
    return engine


@pytest.fixture(autouse=True)
def no_leftover_threads() -> Iterator[None]:
    """Each test stops every server, socket client and listener pool it started."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 5
    while True:
        leftover = [t.name for t in threading.enumerate() if t not in before and t.is_alive()]
        if not leftover or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not leftover, f"threads left running: {leftover}"


@dataclass
class Running:
    """A citebot Slack app serving requests, and the stand-in it talks to."""

    slack: SlackStandIn
    app: App
    port: int = 0

    def post(
        self,
        body: str | dict[str, Any],
        headers: dict[str, str] | None = None,
        secret: str = SECRET,
        timestamp: int | None = None,
    ) -> tuple[int, bytes]:
        """POST a body Slack-style (signed with `secret`) to /slack/events; (status, body)."""
        raw = body if isinstance(body, str) else json.dumps(body)
        kind = "application/x-www-form-urlencoded" if isinstance(body, str) else "application/json"
        sent = {"Content-Type": kind, **sign(secret, raw, timestamp), **(headers or {})}
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request("POST", EVENTS_PATH, body=raw.encode(), headers=sent)
            reply = connection.getresponse()
            return reply.status, reply.read()
        finally:
            connection.close()

    def send(self, event: dict[str, Any], headers: dict[str, str] | None = None) -> float:
        """Deliver an event over HTTP (event_id from its ts); assert the quick ack; return the send time."""
        began = time.monotonic()
        status, _ = self.post(event_body(event, event_id=f"Ev{event['ts']}"), headers)
        assert status == 200
        assert time.monotonic() - began < ACK_BUDGET_S
        return began


@contextmanager
def running(
    engine: Engine,
    slack: SlackStandIn,
    feedback: FeedbackStore,
    http: bool = True,
    scopes: LiveScopes | None = None,
    **settings: Any,
) -> Iterator[Running]:
    """Build the real app and serve it (uvicorn on an ephemeral port, or Socket Mode); stop it all after.

    Leaving the block waits for every listener, then every answer, to finish, so "nothing else was posted"
    can be asserted.
    """
    listeners = ThreadPoolExecutor(max_workers=5, thread_name_prefix="citebot-listener")
    workers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="citebot-answer")
    config = SlackSettings(
        bot_token=BOT_TOKEN,
        signing_secret=SECRET,
        app_token=APP_TOKEN,
        api_url=slack.api_url,
        **settings,
    )
    try:
        app = build_app(
            engine, config, feedback, http=http, executor=listeners, workers=workers, scopes=scopes
        )
        if http:
            server = http_server(app, "127.0.0.1", 0)
            thread = threading.Thread(target=server.run, name="uvicorn")
            thread.start()
            try:
                deadline = time.monotonic() + 10
                while not server.started and thread.is_alive() and time.monotonic() < deadline:
                    time.sleep(0.01)
                assert server.started, "uvicorn did not start"
                yield Running(slack, app, server.servers[0].sockets[0].getsockname()[1])
            finally:
                server.should_exit = True
                thread.join(timeout=10)
        else:
            handler = SocketModeHandler(app, APP_TOKEN)
            handler.connect()
            try:
                yield Running(slack, app)
            finally:
                handler.close()
    finally:
        listeners.shutdown(wait=True)  # every listener has handed its question over ...
        workers.shutdown(wait=True)  # ... and every question is answered


def mention(
    slack: SlackStandIn, text: str, user: str = "U1", channel: str = "C1", thread_ts: str | None = None
) -> dict[str, Any]:
    """An app_mention event, its message also seeded in the stand-in (as Slack would hold it)."""
    ts = slack.new_ts()
    said = f"<@UBOT> {text}"
    slack.add_message(channel, ts, said, user, thread_ts=thread_ts)
    event = {"type": "app_mention", "user": user, "text": said, "ts": ts, "channel": channel, "event_ts": ts}
    return event | ({"thread_ts": thread_ts} if thread_ts else {})


def posted(slack: SlackStandIn) -> list[dict[str, Any]]:
    """Every chat.postMessage the stand-in accepted (injected failures left out)."""
    return [call.params for call in slack.calls_to("chat.postMessage") if call.injected is None]


def strings(value: Any) -> Iterator[str]:
    """Every string inside a JSON-like value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def blocks_of(message: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """The blocks of one type in a posted message."""
    return [block for block in message.get("blocks", []) if block["type"] == kind]


def button_value(message: dict[str, Any], action_id: str) -> str:
    """The value of one of a message's buttons."""
    (actions,) = blocks_of(message, "actions")
    return next(str(b["value"]) for b in actions["elements"] if b["action_id"] == action_id)


def one_line(text: str) -> str:
    """Whitespace collapsed, as the Sources blocks show a passage."""
    return " ".join(text.split())


def test_http_mention_answers_once_in_thread_with_sources(
    shared_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore
) -> None:
    """A signed app_mention: :eyes: on, one threaded reply with [1], the sources and buttons, :eyes: off."""
    expected = shared_engine.ask(STOCKHOLM)
    with running(shared_engine, slack, feedback) as bot:
        event = mention(slack, STOCKHOLM)
        bot.send(event)
        slack.wait_for("reactions.remove")
    (reply,) = posted(slack)
    assert (reply["channel"], reply["thread_ts"]) == ("C1", event["ts"])
    section, context = blocks_of(reply, "section"), blocks_of(reply, "context")
    assert [s["text"]["text"] for s in section] == [escape(expected.answer)]
    assert "[1]" in reply["text"] and "[1]" in section[0]["text"]["text"]
    # The scorer is unsure of the editorial's answer: a warning under the answer, then the sources.
    assert expected.low_confidence and expected.confidence is not None
    warning, listed = context
    (warned,) = [element["text"] for element in warning["elements"]]
    assert warned.startswith(f":warning: _Low confidence ({expected.confidence:.0%}):")
    (sources,) = [element["text"] for element in listed["elements"]]
    assert expected.citations
    for citation in expected.citations:
        assert f"[{citation.n}] {citation.source}, line {citation.line} - " in sources
    (actions,) = blocks_of(reply, "actions")
    assert [b["action_id"] for b in actions["elements"]] == [
        "citebot_sources",
        "citebot_helpful",
        "citebot_not_helpful",
    ]
    assert reply["metadata"]["event_payload"]["question"] == STOCKHOLM
    order = [c.method for c in slack.calls if c.method.startswith(("reactions.", "chat."))]
    assert order == ["reactions.add", "chat.postMessage", "reactions.remove"]
    for call in slack.calls_to("reactions.add") + slack.calls_to("reactions.remove"):
        assert call.params | {"name": "eyes", "channel": "C1", "timestamp": event["ts"]} == call.params


def test_bad_signature_is_rejected(
    shared_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore
) -> None:
    """401 and nothing posted for: the wrong secret, a body changed after signing, a garbled signature,
    no signature headers at all."""
    with running(shared_engine, slack, feedback) as bot:
        body = json.dumps(event_body(mention(slack, STOCKHOLM), event_id="EvBad"))
        signed = sign(SECRET, body)
        assert bot.post(body, secret="not-the-secret")[0] == 401
        tampered = body.replace("Stockholm", "Hanoi")
        assert bot.post(tampered, headers={**signed, "Content-Type": "application/json"})[0] == 401
        garbled = {"X-Slack-Signature": "v0=" + "0" * 64, "Content-Type": "application/json"}
        assert bot.post(body, headers=garbled)[0] == 401
        connection = http.client.HTTPConnection("127.0.0.1", bot.port, timeout=10)
        connection.request("POST", EVENTS_PATH, body=body, headers={"Content-Type": "application/json"})
        assert connection.getresponse().status == 401
        connection.close()
    assert [c.method for c in slack.calls] == ["auth.test"]


def test_stale_timestamp_is_rejected(
    shared_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore
) -> None:
    """401 and nothing posted for correctly signed requests stamped 5 min 10 s ago, 1 h ago, 10 min ahead."""
    with running(shared_engine, slack, feedback) as bot:
        body = json.dumps(event_body(mention(slack, STOCKHOLM), event_id="EvOld"))
        for skew in (-310, -3600, 600):
            assert bot.post(body, timestamp=int(time.time()) + skew)[0] == 401
    assert [c.method for c in slack.calls] == ["auth.test"]


def test_url_verification_echoes_the_challenge(
    shared_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore
) -> None:
    """Slack's url_verification handshake (signed) gets its challenge back; a badly signed one gets 401."""
    challenge = {
        "token": "verification-token",
        "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9",
        "type": "url_verification",
    }
    with running(shared_engine, slack, feedback) as bot:
        status, body = bot.post(challenge)
        forged, _ = bot.post(challenge, headers={"X-Slack-Signature": "v0=nope"})
    assert status == 200
    assert json.loads(body) == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9"}
    assert forged == 401


def test_retried_event_is_answered_once(
    shared_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore
) -> None:
    """The same event_id delivered three times (retries 1 and 2 after a timeout) gives one answer."""
    with running(shared_engine, slack, feedback) as bot:
        event = mention(slack, STOCKHOLM)
        bot.send(event)
        for retry in ("1", "2"):
            bot.send(event, {"X-Slack-Retry-Num": retry, "X-Slack-Retry-Reason": "http_timeout"})
        slack.wait_for("chat.postMessage")
    assert len(posted(slack)) == 1
    assert len(slack.calls_to("reactions.add")) == 1


def test_socket_mode_end_to_end(shared_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore) -> None:
    """Socket Mode: the app connects with the app token, acks a pushed mention, answers it in the thread."""
    with running(shared_engine, slack, feedback, http=False):
        event = mention(slack, STOCKHOLM)
        envelope_id = slack.push("events_api", event_body(event, event_id="EvSocket"))
        slack.wait_for_ack(envelope_id)
        slack.wait_for("reactions.remove")
    assert envelope_id in slack.acks
    (connect,) = slack.calls_to("apps.connections.open")
    assert connect.headers["Authorization"] == f"Bearer {APP_TOKEN}"
    (reply,) = posted(slack)
    assert (reply["channel"], reply["thread_ts"]) == ("C1", event["ts"])
    assert "[1]" in reply["text"] and "sanctions" in reply["text"]


def test_direct_message_is_answered_in_the_dm(
    shared_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore
) -> None:
    """A message.im event is answered in the DM itself, not in a thread."""
    with running(shared_engine, slack, feedback) as bot:
        ts = slack.new_ts()
        bot.send(
            {
                "type": "message",
                "channel": "D1",
                "channel_type": "im",
                "user": "U1",
                "text": STOCKHOLM,
                "ts": ts,
            }
        )
        slack.wait_for("reactions.remove")
    (reply,) = posted(slack)
    assert reply["channel"] == "D1" and reply.get("thread_ts") is None
    assert "[1]" in reply["text"]


def test_slash_ask_is_ephemeral_and_share_posts_it(
    shared_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore
) -> None:
    """/ask: a quick empty ack, the ephemeral answer at the response_url with Share; Share posts it."""
    with running(shared_engine, slack, feedback) as bot:
        began = time.monotonic()
        status, body = bot.post(slash_body("/ask", STOCKHOLM, "U1", "C1", slack.response_url("ask")))
        acked_in = time.monotonic() - began
        (ephemeral,) = slack.wait_for_response("ask")
        assert posted(slack) == []
        answer_id = button_value(ephemeral, "citebot_share")
        share = action_body("citebot_share", answer_id, "U1", "C1", slack.response_url("share"))
        assert bot.post(share)[0] == 200
        (shared,) = slack.wait_for("chat.postMessage")
        (deleted,) = slack.wait_for_response("share")
        assert deleted["delete_original"] is True
    assert (status, body) == (200, b"") and acked_in < ACK_BUDGET_S
    assert ephemeral["response_type"] == "ephemeral" and "[1]" in ephemeral["text"]
    (actions,) = blocks_of(ephemeral, "actions")
    share_button = next(b for b in actions["elements"] if b["action_id"] == "citebot_share")
    assert share_button["text"]["text"] == "Share in channel"
    message = shared.params
    assert message["channel"] == "C1" and message.get("thread_ts") is None
    assert message["text"].startswith(f"<@U1> asked: {STOCKHOLM}\n")
    assert [s["text"]["text"] for s in blocks_of(message, "section")] == [
        s["text"]["text"] for s in blocks_of(ephemeral, "section")
    ]
    assert "citebot_share" not in json.dumps(message["blocks"])


def test_sources_button_shows_the_full_passages(
    shared_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore
) -> None:
    """The Sources button sends the presser an ephemeral message with every cited passage in full."""
    with running(shared_engine, slack, feedback) as bot:
        event = mention(slack, STOCKHOLM)
        bot.send(event)
        (reply,) = slack.wait_for("chat.postMessage")
        answer_id = button_value(reply.params, "citebot_sources")
        press = action_body(
            "citebot_sources", answer_id, "U2", "C1", slack.response_url("src"), slack.new_ts(), event["ts"]
        )
        assert bot.post(press)[0] == 200
        (sources,) = slack.wait_for_response("src")
    assert sources["response_type"] == "ephemeral" and sources["replace_original"] is False
    shown = one_line(" ".join(strings(sources["blocks"])))
    cited = [c.id for c in feedback.answer(answer_id).citations]  # type: ignore[union-attr]
    assert cited
    for citation_id in cited:
        passage = shared_engine.cite(citation_id)
        assert one_line(escape(passage.quote)) in shown
        assert f"`{citation_id}`" in shown


def test_feedback_buttons_store_votes_listed_by_cli(
    shared_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore, tmp_path: Path
) -> None:
    """Helpful and not-helpful votes are stored with the answer's data and listed by `citebot feedback`."""
    with running(shared_engine, slack, feedback) as bot:
        event = mention(slack, STOCKHOLM)
        bot.send(event)
        (reply,) = slack.wait_for("chat.postMessage")
        answer_id = button_value(reply.params, "citebot_helpful")
        for user, action in (("U2", "citebot_helpful"), ("U3", "citebot_not_helpful")):
            bot.post(action_body(action, answer_id, user, "C1", slack.response_url(user), slack.new_ts()))
            (thanks,) = slack.wait_for_response(user)
            assert thanks == {"text": THANKS, "response_type": "ephemeral", "replace_original": False}
    expected = shared_engine.ask(STOCKHOLM)
    votes = feedback.votes()
    assert sorted((v["user"], v["vote"]) for v in votes) == [("U2", "helpful"), ("U3", "not_helpful")]
    for vote in votes:
        assert vote["question"] == STOCKHOLM and vote["answer"] == expected.answer
        assert vote["citations"] == [c.id for c in expected.citations] and vote["channel"] == "C1"
        assert vote["time"].startswith(time.strftime("%Y-", time.gmtime()))
    result = CliRunner().invoke(cli, ["feedback", "--json", "--store", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert [json.loads(line) for line in result.stdout.splitlines()] == votes


def test_thread_follow_up_uses_the_earlier_question(
    shared_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore
) -> None:
    """A second mention in a thread is answered with the first question (from the thread's metadata) as
    context; a third keeps the thread's topic, by the REPL's rule (the previous turn's search)."""
    with running(shared_engine, slack, feedback) as bot:
        first = mention(slack, STOCKHOLM)
        bot.send(first)
        slack.wait_for("chat.postMessage")
        bot.send(mention(slack, FOLLOW_UP, thread_ts=first["ts"]))
        slack.wait_for("chat.postMessage", count=2)
        bot.send(mention(slack, CHAIN, thread_ts=first["ts"]))
        slack.wait_for("chat.postMessage", count=3)
    reads = slack.calls_to("conversations.replies")
    assert len(reads) == 2
    for read in reads:
        assert read.params | {"channel": "C1", "ts": first["ts"], "include_all_metadata": "1"} == read.params
    earlier, follow_up, chained = posted(slack)
    assert follow_up["thread_ts"] == chained["thread_ts"] == first["ts"]
    # It goes on from the first answer (the scorer quotes the sentence right after it), never repeating it.
    assert follow_up["text"] != earlier["text"] and "[1]" in follow_up["text"]
    earlier_answer = feedback.answer(button_value(earlier, "citebot_sources"))
    follow_answer = feedback.answer(button_value(follow_up, "citebot_sources"))
    assert earlier_answer is not None and follow_answer is not None
    assert follow_answer.citations[0].start >= earlier_answer.citations[0].end
    assert follow_answer.citations[0].quote not in earlier_answer.answer
    searched = follow_up["metadata"]["event_payload"]["query"]
    assert searched == f"{STOCKHOLM} {FOLLOW_UP}"
    third = feedback.answer(button_value(chained, "citebot_sources"))
    assert third is not None and third.retrieval_query == f"{searched} {CHAIN}"


def test_rate_limited_post_is_retried_after_retry_after(
    shared_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore
) -> None:
    """chat.postMessage answered 429 with Retry-After: 1 is retried after a second; one answer is posted."""
    slack.fail_next("chat.postMessage", status=429, retry_after=1)
    with running(shared_engine, slack, feedback) as bot:
        bot.send(mention(slack, STOCKHOLM))
        slack.wait_for("chat.postMessage", count=2)
    limited, retried = slack.calls_to("chat.postMessage")
    assert (limited.injected, retried.injected) == ("429", None)
    assert retried.at - limited.at >= 1.0
    assert limited.params == retried.params
    assert len([m for m in slack.messages if m.get("bot_id") == "BBOT"]) == 1


def test_document_pings_are_escaped(
    shared_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore
) -> None:
    """A passage quoting <!channel>, <!here>, <@U123> and & is shown escaped in the answer, sources and
    Sources message, so it can never ping anyone."""
    with running(shared_engine, slack, feedback) as bot:
        event = mention(slack, DRILL)
        bot.send(event)
        (reply,) = slack.wait_for("chat.postMessage")
        answer_id = button_value(reply.params, "citebot_sources")
        bot.post(action_body("citebot_sources", answer_id, "U1", "C1", slack.response_url("src")))
        (sources,) = slack.wait_for_response("src")
    texts = [reply.params["text"], *strings(reply.params["blocks"]), *strings(sources)]
    for ping in PINGS:
        assert not any(ping in text for text in texts), ping
        assert not any(ping in json.dumps(message) for message in (reply.params, sources))
    escaped = [escape(ping) for ping in PINGS]
    assert escaped == ["&lt;!channel&gt;", "&lt;!here&gt;", "&lt;@U123&gt;"]
    for where in (reply.params["text"], blocks_of(reply.params, "section")[0]["text"]["text"]):
        assert all(e in where for e in escaped) and "east stairs &amp; meet" in where
    assert all(e in json.dumps(sources["blocks"]) for e in escaped)
    assert all(e in json.dumps(blocks_of(reply.params, "context")) for e in escaped)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (
            RuntimeError("the index <is> gone at http://admin:hunter2@10.0.0.5:8000, token xoxb-live-1"),
            "an internal error (RuntimeError); the details are in citebot's log",
        ),
        (
            StoreError(f"Chroma at http://admin:hunter2@10.0.0.5:8000 <refused> {SECRET}"),
            "Chroma at http://admin:***@10.0.0.5:8000 &lt;refused&gt; ***",
        ),
    ],
)
def test_chain_failure_is_a_visible_apology(
    shared_engine: Engine,
    slack: SlackStandIn,
    feedback: FeedbackStore,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    error: Exception,
    reason: str,
) -> None:
    """Bad input: the chain raising a foreign RuntimeError whose text holds a URL password and a token, and
    citebot's own StoreError holding a URL password and the signing secret. The thread gets a short, safe
    apology (no foreign text; citebot's own text masked and escaped), :eyes: removed, the traceback logged."""

    def broken(question: str, history: Any = None) -> Answer:
        raise error

    monkeypatch.setattr(shared_engine, "ask", broken)
    with running(shared_engine, slack, feedback) as bot:
        event = mention(slack, STOCKHOLM)
        bot.send(event)
        slack.wait_for("reactions.remove")
    (reply,) = posted(slack)
    assert reply["thread_ts"] == event["ts"]
    assert reply["text"] == f"Sorry, I couldn't answer that: {reason}"
    assert reply["text"] == SORRY.format(reason=reason)
    failures = [r for r in caplog.records if r.name == "citebot.slack" and r.exc_info]
    assert len(failures) == 1 and failures[0].exc_info[1] is error  # type: ignore[index]


def test_failed_post_apologises_with_slacks_error_code(
    shared_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore
) -> None:
    """Bad input: Slack refuses the answer's chat.postMessage (invalid_blocks); the apology names only the
    code, and one whose error is not a Slack code (it echoes the token) is told by its HTTP status."""
    slack.error_next("chat.postMessage", error="invalid_blocks")
    with running(shared_engine, slack, feedback) as bot:
        bot.send(mention(slack, STOCKHOLM))
        slack.wait_for("chat.postMessage", count=2)
        slack.error_next("chat.postMessage", error=f"bad token {BOT_TOKEN}")
        bot.send(mention(slack, STOCKHOLM))
        slack.wait_for("chat.postMessage", count=4)
    assert [m["text"] for m in posted(slack)] == [
        "Sorry, I couldn't answer that: Slack refused the message (invalid_blocks)",
        "Sorry, I couldn't answer that: Slack refused the message (HTTP 200)",
    ]


def test_bots_and_edits_are_ignored(
    shared_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore
) -> None:
    """No answer to: a mention by another bot (bot_id B999), the bot's own DM (UBOT/BBOT), a bot_message
    subtype, an edit (message_changed), a plain channel message (not im); then a person's DM is answered."""
    with running(shared_engine, slack, feedback) as bot:
        other_bot = mention(slack, STOCKHOLM) | {"bot_id": "B999", "user": "U999"}
        own = {"type": "message", "channel": "D1", "channel_type": "im", "user": "UBOT", "bot_id": "BBOT"}
        own |= {"text": STOCKHOLM, "ts": slack.new_ts()}
        bot_message = own | {"subtype": "bot_message", "user": "U2", "bot_id": "B2", "ts": slack.new_ts()}
        edited: dict[str, Any] = {"type": "message", "channel": "D1", "channel_type": "im"}
        edited |= {"subtype": "message_changed"}
        edited |= {"ts": slack.new_ts(), "message": {"text": STOCKHOLM, "user": "U1"}}
        in_channel = {"type": "message", "channel": "C1", "channel_type": "channel", "user": "U1"}
        in_channel |= {"text": STOCKHOLM, "ts": slack.new_ts()}
        for event in (other_bot, own, bot_message, edited, in_channel):
            bot.send(event)
    assert posted(slack) == [] and slack.calls_to("reactions.add") == []
    with running(shared_engine, slack, feedback) as bot:
        person = {"type": "message", "channel": "D1", "channel_type": "im", "user": "U1", "text": STOCKHOLM}
        bot.send(person | {"ts": slack.new_ts()})
        slack.wait_for("chat.postMessage")
    assert [m["channel"] for m in posted(slack)] == ["D1"]


def test_empty_mention_gets_a_usage_hint(
    shared_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore
) -> None:
    """Bad input: a bare mention with no question, and one with only whitespace, get the usage hint."""
    with running(shared_engine, slack, feedback) as bot:
        for text in ("", "   "):
            bot.send(mention(slack, text))
        slack.wait_for("chat.postMessage", count=2)
    assert [m["text"] for m in posted(slack)] == [
        "Ask me a question after the mention, e.g. `@citebot What did the US offer in Stockholm?`"
    ] * 2


def test_abstained_answer_says_so_and_offers_matches(
    shared_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore
) -> None:
    """A question the documents do not cover: the plain abstention and the closest matches."""
    with running(shared_engine, slack, feedback) as bot:
        bot.send(mention(slack, "What is the boiling point of liquid nitrogen in kelvin?"))
        (reply,) = slack.wait_for("chat.postMessage")
    assert reply.params["text"] == ABSTAINED_TEXT
    section, context = blocks_of(reply.params, "section"), blocks_of(reply.params, "context")
    assert section[0]["text"]["text"] == f"_{ABSTAINED_TEXT}_"
    assert context[0]["elements"][0]["text"].startswith("*Closest matches (not an answer):*\n• ")


def test_burst_of_50_mentions_from_10_users(
    shared_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore
) -> None:
    """50 mentions from 10 users at 3 questions a minute each: within the limit answered once, the rest told
    politely, none lost; reports the p95 answer latency."""
    per_user = {f"U{n:02d}": 2 if n < 5 else 8 for n in range(10)}
    senders = [user for user, count in per_user.items() for _ in range(count)]
    random.Random(4).shuffle(senders)
    questions = [
        STOCKHOLM,
        DRILL,
        "Who is the North's top nuclear envoy?",
        "Where did the second summit end?",
    ]
    sent: dict[str, tuple[str, float]] = {}
    with running(shared_engine, slack, feedback, rate_limit=3) as bot:
        for n, user in enumerate(senders):
            event = mention(slack, questions[n % len(questions)], user=user)
            sent[event["ts"]] = (user, bot.send(event))
        slack.wait_for("chat.postMessage", count=len(senders), timeout=60)
    replies = slack.calls_to("chat.postMessage")
    assert len(replies) == 50
    by_thread = Counter(call.params["thread_ts"] for call in replies)
    assert set(by_thread) == set(sent) and set(by_thread.values()) == {1}
    polite = RATE_LIMITED.format(limit=3)
    told = Counter(sent[c.params["thread_ts"]][0] for c in replies if c.params["text"] == polite)
    answered = [c for c in replies if c.params["text"] != polite]
    assert all("[1]" in c.params["text"] for c in answered)
    assert Counter(sent[c.params["thread_ts"]][0] for c in answered) == {
        u: min(n, 3) for u, n in per_user.items()
    }
    assert told == {u: n - 3 for u, n in per_user.items() if n > 3}
    latencies = sorted(c.at - sent[c.params["thread_ts"]][1] for c in answered)
    p95 = latencies[max(0, round(0.95 * len(latencies)) - 1)]
    print(
        f"\nburst: {len(answered)} answered, {sum(told.values())} rate-limited;"
        f" p95 answer latency {p95 * 1000:.0f} ms"
    )


def test_acks_stay_quick_while_answers_queue(
    shared_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With 8 answers stuck in a slow chain, /ask and a Sources press are still acked in time."""
    real = shared_engine.ask(STOCKHOLM)
    gate = threading.Event()

    def slow(question: str, history: Any = None) -> Answer:
        gate.wait(timeout=20)
        return real

    monkeypatch.setattr(shared_engine, "ask", slow)
    with running(shared_engine, slack, feedback) as bot:
        for n in range(8):
            bot.send(mention(slack, STOCKHOLM, user=f"U{n}"))
        began = time.monotonic()
        asked = bot.post(slash_body("/ask", STOCKHOLM, "U1", "C1", slack.response_url("ask")))
        pressed = bot.post(action_body("citebot_sources", "gone", "U1", "C1", slack.response_url("src")))
        acked_in = time.monotonic() - began
        gate.set()
        slack.wait_for("chat.postMessage", count=8)
        (answer,) = slack.wait_for_response("ask")
    assert (asked[0], pressed[0]) == (200, 200) and acked_in < ACK_BUDGET_S
    assert "[1]" in answer["text"] and len(posted(slack)) == 8


def test_channel_allowlist(shared_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore) -> None:
    """Bad input: a mention and an /ask in a channel not on the allowlist get only the private NOT_HERE note;
    the listed channel and a DM are answered."""
    with running(shared_engine, slack, feedback, channels="CALLOWED, CTOO") as bot:
        bot.send(mention(slack, STOCKHOLM, channel="COTHER"))
        slack.wait_for("chat.postEphemeral")
        bot.post(slash_body("/ask", STOCKHOLM, "U1", "COTHER", slack.response_url("ask")))
        (refused,) = slack.wait_for_response("ask")
        bot.send(mention(slack, STOCKHOLM, channel="CALLOWED"))
        dm = {"type": "message", "channel": "D7", "channel_type": "im", "user": "U1", "text": STOCKHOLM}
        bot.send(dm | {"ts": slack.new_ts()})
        slack.wait_for("chat.postMessage", count=2)
    (note,) = slack.calls_to("chat.postEphemeral")
    assert note.params | {"channel": "COTHER", "user": "U1", "text": NOT_HERE} == note.params
    assert refused == {"text": NOT_HERE, "response_type": "ephemeral"}
    assert sorted(m["channel"] for m in posted(slack)) == ["CALLOWED", "D7"]
    assert "COTHER" not in [c.params["channel"] for c in slack.calls_to("reactions.add")]


def test_cli_refuses_missing_or_malformed_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`citebot slack` exits 2 naming the variable for: no SLACK_BOT_TOKEN, SLACK_BOT_TOKEN=bad, a token with
    a space, no SLACK_APP_TOKEN, an xoxb- app token, --http without SLACK_SIGNING_SECRET, a non-http API URL,
    CITEBOT_SLACK_RATE_LIMIT=0."""
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"):
        monkeypatch.delenv(name, raising=False)
    good = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN}
    malformed_bot = (
        "Error: SLACK_BOT_TOKEN is malformed: it should start with 'xoxb-' and contain no spaces\n"
    )
    cases = [
        (
            {},
            [],
            "Error: SLACK_BOT_TOKEN is not set: export SLACK_BOT_TOKEN=xoxb-..."
            " (see the README's Slack section)\n",
        ),
        ({"SLACK_BOT_TOKEN": "bad"}, [], malformed_bot),
        ({"SLACK_BOT_TOKEN": "xoxb-12 34"}, ["--http"], malformed_bot),
        (
            {"SLACK_BOT_TOKEN": BOT_TOKEN},
            [],
            "Error: SLACK_APP_TOKEN is not set: export SLACK_APP_TOKEN=xapp-..."
            " (see the README's Slack section)\n",
        ),
        (
            {**good, "SLACK_APP_TOKEN": "xoxb-wrong-kind"},
            [],
            "Error: SLACK_APP_TOKEN is malformed: it should start with 'xapp-' and contain no spaces\n",
        ),
        (
            good,
            ["--http"],
            "Error: SLACK_SIGNING_SECRET is not set: HTTP mode needs the app's signing secret\n",
        ),
        (
            {**good, "CITEBOT_SLACK_API_URL": "ftp://127.0.0.1/api/"},
            [],
            "Error: CITEBOT_SLACK_API_URL must be an http(s) URL, not 'ftp://127.0.0.1/api/'\n",
        ),
        (
            {**good, "CITEBOT_SLACK_RATE_LIMIT": "0"},
            [],
            "Error: Invalid Slack setting: CITEBOT_SLACK_RATE_LIMIT:"
            " Input should be greater than or equal to 1\n",
        ),
    ]
    for env, options, message in cases:
        result = CliRunner().invoke(cli, ["slack", *options, "--store", str(tmp_path / "store")], env=env)
        assert (result.exit_code, result.output) == (2, message), env
    assert not (tmp_path / "store").exists()


def slack_env(slack: SlackStandIn, **extra: str) -> dict[str, str]:
    """What `citebot slack` needs to reach the stand-in with well-formed tokens."""
    env = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN, "SLACK_SIGNING_SECRET": SECRET}
    return env | {"CITEBOT_SLACK_API_URL": slack.api_url} | extra


@pytest.mark.parametrize(
    ("token", "error", "options", "message"),
    [
        (APP_TOKEN, "invalid_auth", [], "Error: Slack refused the app token (invalid_auth)\n"),
        (BOT_TOKEN, "token_revoked", [], "Error: Slack refused the bot token (token_revoked)\n"),
        (BOT_TOKEN, "invalid_auth", ["--http"], "Error: Slack refused the bot token (invalid_auth)\n"),
    ],
)
def test_cli_refused_token_is_one_error_line(
    slack: SlackStandIn, tmp_path: Path, token: str, error: str, options: list[str], message: str
) -> None:
    """Bad input: well-formed tokens Slack refuses (a revoked app token, a revoked bot token in Socket Mode
    and in HTTP mode): one Error line, exit 1, never "listening", no store created."""
    slack.refuse(token, error)
    args = ["slack", *options, "--store", str(tmp_path / "store")]
    result = CliRunner().invoke(cli, args, env=slack_env(slack))
    assert (result.exit_code, result.output) == (1, message)
    assert not (tmp_path / "store").exists()


def test_cli_unreachable_slack_is_one_error_line_without_the_password(tmp_path: Path) -> None:
    """Bad input: CITEBOT_SLACK_API_URL with a password, at a loopback port where nothing listens."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
        port = closed.getsockname()[1]
        url = f"http://citebot:hunter2@127.0.0.1:{port}/api/"
        env = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN, "CITEBOT_SLACK_API_URL": url}
        result = CliRunner().invoke(cli, ["slack", "--store", str(tmp_path / "store")], env=env)
    expected = f"Error: Cannot reach Slack at http://citebot:***@127.0.0.1:{port}/api/\n"
    assert (result.exit_code, result.output) == (1, expected)


def unusable_feedback_db(tmp_path: Path, kind: str) -> Path:
    """A CITEBOT_SLACK_FEEDBACK_DB path citebot cannot use, of one kind."""
    path = tmp_path / "feedback.sqlite3"
    if kind == "garbage":
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    elif kind == "foreign":
        other = sqlite3.connect(path)
        other.execute("CREATE TABLE answers (id TEXT PRIMARY KEY, body TEXT)")
        other.commit()
        other.close()
    elif kind == "stranger":
        other = sqlite3.connect(path)
        other.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        other.commit()
        other.close()
    elif kind == "folder":
        path.mkdir()
    else:
        (tmp_path / "blocker").write_text("a file where a folder must be\n", encoding="utf-8")
        path = tmp_path / "blocker" / "feedback.sqlite3"
    return path


FEEDBACK_ERRORS = {
    "garbage": (1, "Error: The feedback database {path} cannot be used: file is not a database\n"),
    "foreign": (1, "Error: The feedback database {path} cannot be used: no such column: question\n"),
    "stranger": (
        1,
        "Error: The feedback database {path} cannot be used: it has tables citebot never made (users)\n",
    ),
    "folder": (
        2,
        "Error: The feedback database {path} is a folder; set CITEBOT_SLACK_FEEDBACK_DB to a file path\n",
    ),
    "blocked": (
        2,
        "Error: Cannot create the folder for the feedback database {path}: a file is in the way\n",
    ),
}


@pytest.mark.parametrize("kind", ["garbage", "foreign", "stranger", "folder", "blocked"])
def test_slack_refuses_an_unusable_feedback_database(slack: SlackStandIn, tmp_path: Path, kind: str) -> None:
    """Bad input for `citebot slack`: CITEBOT_SLACK_FEEDBACK_DB holding garbage bytes, an SQLite file whose
    answers table has other columns, another program's SQLite file, a folder, a path under a file. One
    Error line naming the file, exit 1 for a file citebot cannot read (the setting is fine, the file is
    not) and 2 for a path that cannot hold one (the setting is wrong); never "listening", and the file is
    left byte for byte as it was."""
    path = unusable_feedback_db(tmp_path, kind)
    before = path.read_bytes() if path.is_file() else None
    args = ["slack", "--store", str(tmp_path / "store")]
    result = CliRunner().invoke(cli, args, env=slack_env(slack, CITEBOT_SLACK_FEEDBACK_DB=str(path)))
    code, message = FEEDBACK_ERRORS[kind]
    assert (result.exit_code, result.output) == (code, message.format(path=path))
    assert (path.read_bytes() if path.is_file() else None) == before


@pytest.mark.parametrize("kind", ["garbage", "foreign", "stranger", "folder"])
def test_feedback_listing_refuses_an_unusable_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """Bad input for `citebot feedback`: the same garbage and foreign files and the folder; one Error
    line naming the file, with the same exit codes as `citebot slack`."""
    path = unusable_feedback_db(tmp_path, kind)
    monkeypatch.setenv("CITEBOT_SLACK_FEEDBACK_DB", str(path))
    result = CliRunner().invoke(cli, ["feedback", "--store", str(tmp_path / "store")])
    code, message = FEEDBACK_ERRORS[kind]
    assert (result.exit_code, result.output) == (code, message.format(path=path))


def test_slack_door_masks_secrets_in_its_log(slack: SlackStandIn, tmp_path: Path) -> None:
    """Bad input: Slack's reply to the answer echoes the bot token, the signing secret and the LLM API key;
    `citebot slack` (a real process, Socket Mode) logs the failure's traceback with all three masked and
    apologises in the thread with the HTTP status only."""
    from tests.processes import stop, wait_until_listening
    from tests.test_repl import CITEBOT, child_env

    signing, llm_key = "8f14e45fceea167a", "local-key-42"
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(SEED_FILE, docs / SEED_FILE.name)
    env = child_env(tmp_path, docs, **slack_env(slack, SLACK_SIGNING_SECRET=signing))
    env |= {"CITEBOT_STORE": str(tmp_path / "store"), "CITEBOT_LLM_API_KEY": llm_key}
    slack.error_next("chat.postMessage", error=f"echo {BOT_TOKEN} {signing} {llm_key}")
    log = tmp_path / "stderr.txt"
    with log.open("wb") as stderr:
        process = subprocess.Popen([str(CITEBOT), "slack"], env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        wait_until_listening(process, log)
        event = mention(slack, STOCKHOLM)
        slack.push("events_api", event_body(event, event_id="EvLog"))
        slack.wait_for("chat.postMessage", count=2, timeout=60)
        slack.wait_for("reactions.remove", timeout=10)
    finally:
        stop(process)
    text = log.read_text()
    assert "answering failed in C1\nTraceback (most recent call last):" in text
    assert "'error': 'echo *** *** ***'" in text
    assert BOT_TOKEN not in text and signing not in text and llm_key not in text
    assert posted(slack)[-1]["text"] == "Sorry, I couldn't answer that: Slack refused the message (HTTP 200)"


def test_long_answer_stays_within_block_kit_limits(
    shared_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bad input: a 10,000-character answer with 80 citations: sections <= 3,000 chars, <= 50 blocks, under
    12,000 chars in all, the trimmed text pointing to the full passage; the Sources message fits too.
    Answers of 10,000 '&' (each shifted by 0-4 characters) are never cut inside an escape like `&amp;`."""
    real = shared_engine.ask(STOCKHOLM)
    citations = [real.citations[i % len(real.citations)].model_copy(update={"n": i + 1}) for i in range(80)]
    long_text = ("The North wanted <relief> & guarantees. " * 300)[:10_000]
    answers = {"long": real.model_copy(update={"answer": long_text, "citations": citations})}
    answers |= {f"amp {k}": real.model_copy(update={"answer": "x" * k + "&" * 10_000}) for k in range(5)}
    monkeypatch.setattr(shared_engine, "ask", lambda question, history=None: answers[question])
    with running(shared_engine, slack, feedback) as bot:
        bot.send(mention(slack, "long"))
        (reply,) = slack.wait_for("chat.postMessage")
        answer_id = button_value(reply.params, "citebot_sources")
        bot.post(action_body("citebot_sources", answer_id, "U1", "C1", slack.response_url("src")))
        (sources,) = slack.wait_for_response("src")
        for question in answers:
            if question != "long":
                bot.send(mention(slack, question))
        ampersands = [call.params for call in slack.wait_for("chat.postMessage", count=len(answers))[1:]]
    for blocks in (reply.params["blocks"], sources["blocks"]):
        assert len(blocks) <= SLACK_MAX_BLOCKS
        assert len(json.dumps(blocks, ensure_ascii=False)) < SLACK_BLOCKS_BUDGET
        for block in blocks_of({"blocks": blocks}, "section"):
            assert len(block["text"]["text"]) <= SLACK_SECTION_CHARS
        for block in blocks_of({"blocks": blocks}, "context"):
            assert all(len(element["text"]) <= SLACK_SECTION_CHARS for element in block["elements"])
    pointer = f"… (full passage: Sources, or `citebot cite {citations[0].id}`)"
    section = blocks_of(reply.params, "section")[0]["text"]["text"]
    assert section.startswith("The North wanted &lt;relief&gt; &amp; guarantees.") and section.endswith(
        pointer
    )
    assert len(reply.params["text"]) <= SLACK_SECTION_CHARS
    pointer = f"… (full passage: Sources, or `citebot cite {real.citations[0].id}`)"
    for message in ampersands:
        section = blocks_of(message, "section")[0]["text"]["text"]
        assert len(section) <= SLACK_SECTION_CHARS and section.endswith(pointer)
        for text in (section.removesuffix(pointer), message["text"]):
            assert re.fullmatch(r"x*(&amp;)+…?", text), text[-12:]


def test_one_structured_log_line_per_question_and_no_token(
    shared_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore, caplog: pytest.LogCaptureFixture
) -> None:
    """One JSON log line per question (channel, user, latency, abstained, citations); no secret logged."""
    caplog.set_level(logging.DEBUG)
    with running(shared_engine, slack, feedback) as bot:
        bot.send(mention(slack, STOCKHOLM, user="U5", channel="C9"))
        bot.send(
            mention(slack, "What is the boiling point of liquid nitrogen in kelvin?", user="U6", channel="C9")
        )
        slack.wait_for("chat.postMessage", count=2)
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "citebot.slack"]
    questions = sorted(
        (line for line in lines if line.get("event") == "question"), key=lambda line: line["user"]
    )
    assert [(q["channel"], q["user"], q["abstained"]) for q in questions] == [
        ("C9", "U5", False),
        ("C9", "U6", True),
    ]
    assert questions[0]["citations"] == len(shared_engine.ask(STOCKHOLM).citations) > 0
    assert questions[1]["citations"] == 0
    assert all(isinstance(q["latency_ms"], float) and q["latency_ms"] > 0 for q in questions)
    assert any(
        "'Authorization': '(redacted)'" in r.getMessage() for r in caplog.records
    )  # Web API calls logged
    for record in caplog.records:
        logged = record.getMessage() + (
            logging.Formatter().formatException(record.exc_info) if record.exc_info else ""
        )
        assert BOT_TOKEN not in logged and APP_TOKEN not in logged and SECRET not in logged
