"""The Slack door's log: one structured line per question, secrets masked (in process, in `citebot slack`)."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from pathlib import Path

import pytest

from bot.slack.feedback import FeedbackStore
from retrieval.engine import Engine
from retrieval.inference.embedder import Embedder
from tests.bot.slack.harness import (
    APP_TOKEN,
    BOT_TOKEN,
    SECRET,
    mention,
    posted,
    running,
    slack_env,
)
from tests.conftest import SEED_FILE, SEEDS, STOCKHOLM, make_engine
from tests.helpers.slack_standin import SlackStandIn, event_body, sign

# Each test stops every server, socket client and listener pool it started (conftest.py).
pytestmark = pytest.mark.usefixtures("no_leftover_threads")


def test_slack_door_masks_secrets_in_its_log(slack: SlackStandIn, tmp_path: Path) -> None:
    """Bad input: Slack's reply to the answer echoes the bot token, the signing secret and the LLM API key;
    `citebot slack` (a real process, Socket Mode) logs the failure's traceback with all three masked and
    apologises in the thread with the HTTP status only."""
    from tests.bot.test_repl import CITEBOT, child_env
    from tests.helpers.processes import stop, wait_until_listening

    signing, llm_key = "8f14e45fceea167a", "local-key-42"
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(SEED_FILE, docs / SEED_FILE.name)
    env = child_env(tmp_path, docs, **slack_env(slack, SLACK_SIGNING_SECRET=signing))
    env |= {"CITEBOT_STORE": str(tmp_path / "store"), "CITEBOT_LLM_API_KEY": llm_key}
    # The bot answers from a store `citebot ingest` made (it never ingests by itself).
    subprocess.run([str(CITEBOT), "ingest", str(docs)], env=env, check=True, capture_output=True)
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


@pytest.fixture(scope="module")
def seeds_store(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Path:
    """A store of the seeds, ingested once (`citebot slack` reads a store, it never makes one)."""
    root = tmp_path_factory.mktemp("slack-logs")
    assert make_engine(root / "store", embedder).ingest([SEEDS]).added == 1
    return root / "store"


def test_citebot_slack_http_logs_each_refused_request_in_one_line_even_when_debugging(
    slack: SlackStandIn, seeds_store: Path, tmp_path: Path
) -> None:
    """Bad input: `citebot slack --http` with CITEBOT_DEBUG=1 (bolt's loggers at DEBUG) gets a 100 KB body
    with a wrong signature, and a correctly signed body of JSON cut short. Its stderr holds one line for each,
    with neither body's text and no traceback; a signed mention is answered as before."""
    import http.client
    import time

    from bot.slack.transports import EVENTS_PATH
    from tests.bot.slack.test_stop import answer_over_http, citebot_slack, free_port, stop_with_sigterm

    marker = "BODY-TEXT-5e2a"
    forged = json.dumps({"type": "event_callback", "text": f"{marker} https://example.com/?a=b " * 3000})
    cut_short = f'{{"type": "event_callback", "text": "{marker}'
    port = free_port()
    options = ["--http", "--host", "127.0.0.1", "--port", str(port)]
    with citebot_slack(slack, seeds_store, tmp_path, options, CITEBOT_DEBUG="1") as (process, log):
        answer_over_http(slack, port)
        statuses = []
        for body, headers in (
            (
                forged,
                {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=" + "0" * 64},
            ),
            (cut_short, {"Content-Type": "application/json", **sign(SECRET, cut_short)}),
        ):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request("POST", EVENTS_PATH, body=body.encode(), headers=headers)
            statuses.append(connection.getresponse().status)
            connection.close()
        lines = stop_with_sigterm(process, log)
    assert statuses == [401, 400]
    refused = [
        line for line in lines if " citebot.slack WARNING refused a Slack request from 127.0.0.1: " in line
    ]
    assert [line.split(": ", 1)[1] for line in refused] == [
        "a signature that does not match its body; answered 401",
        "a payload bolt cannot read (JSONDecodeError); answered 400",
    ]
    assert not any(marker in line or "example.com" in line or "Traceback" in line for line in lines), lines
