"""HTTP mode's door: too large, unsigned, stale or lying requests refused before their body is read or logged.

Each test talks raw HTTP to the real bot (uvicorn, the guard, slack-bolt) on loopback, sending a body only as
far as it chooses: a server that waited for the rest of a refused body would never answer (socket timeout).
"""

from __future__ import annotations

import json
import logging
import socket
import time

import pytest
from slack_bolt.middleware.request_verification import RequestVerification

from bot.slack.feedback import FeedbackStore
from bot.slack.http_guard import BODY_DEADLINE_S, MAX_BODY_BYTES
from retrieval.engine import Engine
from tests.bot.slack.harness import SECRET, mention, posted, running
from tests.conftest import STOCKHOLM
from tests.helpers.slack_standin import RawRequest, SlackStandIn, action_body, event_body, sign, sign_raw

# Each test stops every server, socket client and listener pool it started (conftest.py).
pytestmark = pytest.mark.usefixtures("no_leftover_threads")

# In every hostile body: it must never reach the log. URLs too: log redaction once read each one slowly.
MARKER = "BODY-TEXT-7c1f"
FILLER = f"{MARKER} https://example.com/a?b=c&d=e " * 64
REFUSED = "refused a Slack request from 127.0.0.1: "


def hostile_body(size: int) -> bytes:
    """A JSON body of `size` bytes full of MARKER and URLs."""
    head = b'{"type": "event_callback", "text": "'
    filler = FILLER.encode() * (size // len(FILLER) + 1)
    return head + filler[: size - len(head) - 2] + b'"}'


def forged(length: int, **extra: str) -> dict[str, str]:
    """Headers of a JSON POST that carries well-formed, fresh, but wrong signature headers."""
    wrong = {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=" + "0" * 64}
    return {"Content-Type": "application/json", "Content-Length": str(length), **wrong, **extra}


def signed(body: bytes, extra: dict[str, str], timestamp: int | None = None) -> dict[str, str]:
    """Headers of a JSON POST of `body`, correctly signed, with `extra` headers."""
    return {"Content-Type": "application/json", **sign_raw(SECRET, body, timestamp), **extra}


def operator_log(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The records at WARNING and above: what `citebot slack` shows an operator without CITEBOT_DEBUG."""
    return [r for r in caplog.records if r.levelno >= logging.WARNING]


def assert_clean(caplog: pytest.LogCaptureFixture) -> None:
    """No record at any level holds the body's text or a traceback."""
    for record in caplog.records:
        assert MARKER not in record.getMessage() and "example.com" not in record.getMessage(), record
        assert record.exc_info is None and record.exc_text is None, record.getMessage()


def refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The guard's refusal lines, in order, after the client's address."""
    return [
        r.getMessage().removeprefix(REFUSED) for r in caplog.records if r.getMessage().startswith(REFUSED)
    ]


def test_unsigned_2mb_requests_are_refused_while_a_signed_mention_is_answered(
    shared_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore, caplog: pytest.LogCaptureFixture
) -> None:
    """Bad input: a 2 MB body with no signature headers, and one with a well-formed wrong signature, the
    latter held half-sent. The first is refused (401) with most of its body never sent; a signed mention sent
    meanwhile is acked while the second still waits for its last megabyte, and answered; that one is then
    refused (401). The log (all levels, bolt's at DEBUG) holds one line each and none of the bodies."""
    caplog.set_level(logging.DEBUG)  # bolt's loggers take the root's level when the app is built
    size = 2 * 1024 * 1024
    body = hostile_body(size)
    with running(shared_engine, slack, feedback) as bot:
        held = RawRequest(bot.port, forged(size))
        assert held.send(body[: size // 2])
        unsigned = RawRequest(bot.port, {"Content-Type": "application/json", "Content-Length": str(size)})
        unsigned.send(body[: 64 * 1024])
        assert unsigned.status() == 401  # answered with 1,984 KB of its body never sent
        bot.send(mention(slack, STOCKHOLM))  # acked 200 while the held request is unfinished
        assert held.send(body[size // 2 :])  # the server was still reading it: the connection is open
        assert held.status() == 401
        (answer,) = slack.wait_for("chat.postMessage", timeout=30)
        held.close()
        unsigned.close()
    assert "lift certain sanctions" in answer.params["text"]
    assert refusals(caplog) == [
        "no Slack signature headers; answered 401",
        "a signature that does not match its body; answered 401",
    ]
    assert_clean(caplog)


def test_an_oversized_signed_body_is_refused_413_without_being_read(
    shared_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore, caplog: pytest.LogCaptureFixture
) -> None:
    """Bad input: correctly signed bodies over the size bound: one declaring 5 MiB (refused 413 with 64 KB
    of it sent), one chunked with no length, streamed past the bound (refused 413 with its end never sent).
    Nothing is answered in Slack; the log holds one line each and nothing of the bodies."""
    caplog.set_level(logging.DEBUG)
    body = hostile_body(5 * 1024 * 1024)
    with running(shared_engine, slack, feedback) as bot:
        declared = RawRequest(bot.port, signed(body, {"Content-Length": str(len(body))}))
        declared.send(body[: 64 * 1024])
        assert declared.status() == 413
        declared.close()
        streamed = RawRequest(bot.port, signed(body, {"Transfer-Encoding": "chunked"}))
        piece = 256 * 1024
        for start in range(0, MAX_BODY_BYTES + piece, piece):  # past the bound, never the last chunk
            if not streamed.send_chunk(body[start : start + piece]):
                break  # the server refused and closed while this was on its way
        assert streamed.status() == 413
        assert streamed.sent < len(body)
        streamed.close()
    assert [c.method for c in slack.calls] == ["auth.test"]
    assert refusals(caplog) == [
        f"it declares {len(body):,} bytes, over the {MAX_BODY_BYTES:,}-byte bound; answered 413",
        f"its body passed the {MAX_BODY_BYTES:,}-byte bound (reading stopped); answered 413",
    ]
    assert_clean(caplog)


def test_a_stale_timestamp_is_refused_before_the_body_is_read(
    shared_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore, caplog: pytest.LogCaptureFixture
) -> None:
    """Bad input: a correctly signed mention stamped 10 minutes ago, its headers sent and none of its body:
    refused 401 at once (a replay is refused on its headers), in one line; nothing answered."""
    caplog.set_level(logging.DEBUG)
    body = json.dumps(event_body(mention(slack, MARKER), event_id="EvStale")).encode()
    with running(shared_engine, slack, feedback) as bot:
        stale = RawRequest(bot.port, signed(body, {"Content-Length": str(len(body))}, int(time.time()) - 600))
        assert stale.status() == 401
        stale.close()
    assert [c.method for c in slack.calls] == ["auth.test"]
    [line] = refusals(caplog)
    assert line.startswith("a stale timestamp (+60") and line.endswith(" s from now); answered 401")
    assert_clean(caplog)


def test_lying_content_lengths_are_refused_and_hold_nothing_up(
    shared_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore, caplog: pytest.LogCaptureFixture
) -> None:
    """Bad input: a signed mention whose Content-Length says 200 bytes (fewer than it sends: refused, nothing
    answered); one that declares 1,000 bytes, sends 10 and waits (408 once
    the body deadline passes, while a signed mention sent meanwhile is answered); one that declares 1,000,
    sends 10 and leaves (one line, nothing to answer). No traceback, no body text in the log."""
    caplog.set_level(logging.DEBUG)
    body = json.dumps({"text": MARKER, **event_body(mention(slack, STOCKHOLM), event_id="EvShort")}).encode()
    with running(shared_engine, slack, feedback) as bot:
        short = RawRequest(bot.port, signed(body, {"Content-Length": "200"}))
        short.send(body)
        # The 200 bytes fail the signature (401), unless uvicorn's parser, reading the rest as a next request,
        # answered first ("Invalid HTTP request received.", 400): refused either way.
        assert short.status() in (400, 401)
        short.close()
        waiting = RawRequest(bot.port, signed(body, {"Content-Length": "1000"}))
        waiting.send(body[:10])
        bot.send(mention(slack, STOCKHOLM))
        slack.wait_for("chat.postMessage", timeout=30)
        assert waiting.status() == 408
        waiting.close()
        leaving = RawRequest(bot.port, signed(body, {"Content-Length": "1000"}))
        leaving.send(body[:10])
        leaving.half_close()
        assert leaving.sock.recv(100) == b""  # closed, nothing answered
        leaving.close()
    assert len(posted(slack)) == 1
    assert refusals(caplog)[-2:] == [
        f"its body was not whole after {BODY_DEADLINE_S:g} s (10 bytes); answered 408",
        "the client left after 10 bytes of its body; nothing answered",
    ]
    assert_clean(caplog)


def test_malformed_and_unknown_signed_payloads_are_one_line_each_and_a_real_failure_keeps_its_traceback(
    shared_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore, caplog: pytest.LogCaptureFixture
) -> None:
    """Bad input, each correctly signed: JSON cut short, a JSON array, form whose payload= is not JSON,
    bytes that are not UTF-8 (400 each), an event type and a payload type citebot has no listener for (404
    each): one WARNING line each, no traceback, no body text. Then a real failure (the answers file closed
    under a vote) is logged with its traceback."""
    caplog.set_level(logging.DEBUG)
    unknown_event = event_body({"type": "reaction_added", "user": "U1", "reaction": MARKER}, event_id="EvR")
    bad: list[tuple[bytes, str, int]] = [
        (f'{{"type": "event_callback", "text": "{MARKER}'.encode(), "application/json", 400),
        (f'["{MARKER}", 2]'.encode(), "application/json", 400),
        (f"payload=%7B{MARKER}".encode(), "application/x-www-form-urlencoded", 400),
        (f'{{"text": "{MARKER}'.encode() + b'\xff\xfe"}', "application/json", 400),
        (json.dumps(unknown_event).encode(), "application/json", 404),
        (json.dumps({"type": "no_such_payload", "text": MARKER}).encode(), "application/json", 404),
    ]
    with running(shared_engine, slack, feedback) as bot:
        for body, kind, status in bad:
            seen = len(operator_log(caplog))
            request = RawRequest(
                bot.port, signed(body, {"Content-Type": kind, "Content-Length": str(len(body))})
            )
            request.send(body)
            assert request.status() == status, body[:40]
            request.close()
            assert len(operator_log(caplog)) == seen + 1, [
                r.getMessage() for r in operator_log(caplog)[seen:]
            ]
        assert_clean(caplog)
        feedback.close()
        vote = action_body("citebot_helpful", "1", "U1", "C1", slack.response_url("vote"))
        # Not its status: bolt answers 200, or 404 when the listener failed before bolt saw its ack() (a race
        # in bolt's thread runner, which clears the ack of a listener that raised after acking).
        bot.post(vote)
        deadline = time.monotonic() + 10
        while not [r for r in caplog.records if r.exc_info] and time.monotonic() < deadline:
            time.sleep(0.05)
    lines = [r.getMessage() for r in operator_log(caplog)]
    assert lines[:6] == [
        REFUSED + "a payload bolt cannot read (JSONDecodeError); answered 400",
        REFUSED + "a payload bolt cannot read (AttributeError); answered 400",
        REFUSED + "a payload bolt cannot read (JSONDecodeError); answered 400",
        REFUSED + "a body that is not UTF-8; answered 400",
        "no listener for a Slack request ('event_callback', event 'reaction_added'); answered 404",
        "no listener for a Slack request ('no_such_payload'); answered 404",
    ]
    [failure] = [r for r in caplog.records if r.exc_info]
    assert failure.getMessage() == "handling a Slack request failed: ProgrammingError"
    assert SECRET not in failure.getMessage()


def test_bolt_drops_its_own_record_of_a_rejected_body(
    shared_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore, caplog: pytest.LogCaptureFixture
) -> None:
    """Bad input reaching bolt itself (a request the guard let through that bolt's own check refuses: here
    the app's secret differs from the guard's): bolt's "Invalid request signature" record, which quotes the
    whole body, is dropped even at DEBUG."""
    caplog.set_level(logging.DEBUG)
    with running(shared_engine, slack, feedback) as bot:
        [verification] = [m for m in bot.app._middleware_list if isinstance(m, RequestVerification)]
        verification._signing_secret, verification._verifier = "another", None
        body = json.dumps({"text": MARKER, **event_body(mention(slack, STOCKHOLM), event_id="EvBolt")})
        status, _ = bot.post(body, headers={"Content-Type": "application/json", **sign(SECRET, body)})
    assert status == 401
    assert [c.method for c in slack.calls] == ["auth.test"]
    assert_clean(caplog)


def test_other_paths_methods_and_websocket_upgrades_get_one_line_each(
    shared_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore, caplog: pytest.LogCaptureFixture
) -> None:
    """Bad input a public URL gets from scanners: GET /slack/events, a POST to another path (404 each) and a
    WebSocket upgrade (403): one WARNING line each, no traceback."""
    caplog.set_level(logging.DEBUG)
    upgrade = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13"}
    upgrade |= {"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
    with running(shared_engine, slack, feedback) as bot:
        statuses = []
        for method, path, headers in (
            ("GET", "/slack/events", {}),
            ("POST", "/wp-login.php", {"Content-Length": "0"}),
            ("GET", "/slack/events", upgrade),
        ):
            with socket.create_connection(("127.0.0.1", bot.port), timeout=10) as sock:
                head = [
                    f"{method} {path} HTTP/1.1",
                    "Host: 127.0.0.1",
                    *(f"{k}: {v}" for k, v in headers.items()),
                ]
                sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
                statuses.append(int(sock.makefile("rb").readline().split()[1]))
    assert statuses == [404, 404, 403]
    assert refusals(caplog) == [
        "GET '/slack/events'; answered 404",
        "POST '/wp-login.php'; answered 404",
        "a WebSocket upgrade; answered 403",
    ]
    assert len(operator_log(caplog)) == 3
    assert_clean(caplog)
