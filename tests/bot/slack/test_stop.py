"""`citebot slack` as a user runs it: citebot's own lines on stderr, no library's, SIGTERM a clean stop."""

from __future__ import annotations

import http.client
import json
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bot.slack.transports import EVENTS_PATH
from retrieval.inference.embedder import Embedder
from tests.bot.slack.harness import SECRET, mention, posted, slack_env
from tests.bot.test_repl import CITEBOT, child_env
from tests.conftest import SEEDS, STOCKHOLM, make_engine
from tests.helpers.processes import wait_until_listening
from tests.helpers.slack_standin import SlackStandIn, event_body, sign

STOPPED = "citebot stopped."
# A log line as `citebot slack` formats it: time, logger, level, message.
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (\S+) ([A-Z]+) ")
LIBRARIES = ("slack_bolt", "slack_sdk", "urllib3", "uvicorn", "websocket", "asyncio", "httpx")


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Path:
    """A store of the seeds, ingested once (`citebot slack` reads a store, it never makes one)."""
    root = tmp_path_factory.mktemp("slack-stop")
    summary = make_engine(root / "store", embedder).ingest([SEEDS])
    assert (summary.added, summary.failed) == (1, 0)
    return root / "store"


def free_port() -> int:
    """A port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def citebot_slack(
    slack: SlackStandIn, store: Path, tmp_path: Path, options: list[str], **env: str
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """`citebot slack OPTIONS` on a copy of the store, stderr in a file; killed if a test left it running."""
    shutil.copytree(store, tmp_path / "store")
    environment = child_env(tmp_path, SEEDS, **slack_env(slack), CITEBOT_STORE=str(tmp_path / "store"), **env)
    log = tmp_path / "stderr.txt"
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [str(CITEBOT), "slack", *options], env=environment, stdout=subprocess.DEVNULL, stderr=stderr
        )
    try:
        wait_until_listening(process, log)
        yield process, log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def answer_over_http(slack: SlackStandIn, port: int) -> None:
    """A signed mention POSTed to the bot (once its server accepts connections); its answer awaited."""
    body = json.dumps(event_body(mention(slack, STOCKHOLM), event_id="EvStop"))
    deadline = time.monotonic() + 30
    while True:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            headers = {"Content-Type": "application/json", **sign(SECRET, body)}
            connection.request("POST", EVENTS_PATH, body=body.encode(), headers=headers)
            assert connection.getresponse().status == 200
            connection.close()
            break
        except ConnectionRefusedError:
            assert time.monotonic() < deadline, "the HTTP server never accepted a connection"
            time.sleep(0.1)
    slack.wait_for("chat.postMessage", timeout=60)


def stop_with_sigterm(process: subprocess.Popen[bytes], log: Path) -> list[str]:
    """SIGTERM; the exit status must be 0; the stderr lines."""
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0, log.read_text()
    return log.read_text().splitlines()


def library_lines(lines: list[str]) -> list[str]:
    """The log lines of any logger but citebot's."""
    return [line for line in lines if (m := LOG_LINE.match(line)) and not m.group(1).startswith("citebot")]


@pytest.mark.parametrize("mode", ["socket", "http"])
def test_sigterm_is_a_clean_stop_and_stderr_holds_only_citebots_lines(
    slack: SlackStandIn, indexed: Path, tmp_path: Path, mode: str
) -> None:
    """Socket Mode and HTTP: a question answered, then SIGTERM: exit 0, the last line "citebot stopped.", no
    slack_bolt, slack_sdk, urllib3 or uvicorn line, and no "'token' will be unused" warning from bolt."""
    port = free_port()
    options = ["--http", "--host", "127.0.0.1", "--port", str(port)] if mode == "http" else []
    with citebot_slack(slack, indexed, tmp_path, options) as (process, log):
        if mode == "http":
            answer_over_http(slack, port)
        else:
            slack.push("events_api", event_body(mention(slack, STOCKHOLM), event_id="EvStop"))
            slack.wait_for("chat.postMessage", timeout=60)
        assert "lift certain sanctions" in posted(slack)[0]["text"]
        lines = stop_with_sigterm(process, log)
    assert lines[0].startswith("citebot is listening (") and lines[-1] == STOPPED
    [question] = [line for line in lines if '"event": "question"' in line]  # citebot's own line stays
    assert LOG_LINE.match(question) and " citebot.slack INFO " in question
    assert library_lines(lines) == []
    assert not any(name in line for line in lines for name in LIBRARIES), lines
    assert not any("will be unused" in line or "Traceback" in line for line in lines), lines


def test_sigterm_before_anything_was_asked(slack: SlackStandIn, indexed: Path, tmp_path: Path) -> None:
    """Bad input: SIGTERM the moment it listens (Socket Mode, nothing asked yet): exit 0 and one line."""
    with citebot_slack(slack, indexed, tmp_path, []) as (process, log):
        lines = stop_with_sigterm(process, log)
    assert lines == [lines[0], STOPPED] and lines[0].startswith("citebot is listening (Socket Mode)")


def test_citebot_debug_shows_the_libraries_lines(slack: SlackStandIn, indexed: Path, tmp_path: Path) -> None:
    """CITEBOT_DEBUG=1: bolt's and slack_sdk's own records come back (for a bug report)."""
    with citebot_slack(slack, indexed, tmp_path, [], CITEBOT_DEBUG="1") as (process, log):
        slack.push("events_api", event_body(mention(slack, STOCKHOLM), event_id="EvDebug"))
        slack.wait_for("chat.postMessage", timeout=60)
        lines = stop_with_sigterm(process, log)
    loggers = {LOG_LINE.match(line).group(1).split(".")[0] for line in library_lines(lines)}  # type: ignore[union-attr]
    assert {"slack_bolt", "slack_sdk"} <= loggers, lines
    assert lines[-1] == STOPPED
    assert not any("will be unused" in line for line in lines)
