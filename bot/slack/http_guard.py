"""Slack's HTTP door: a request too large, unsigned or stale is refused before anything reads or logs it.

HTTP mode serves a public URL, so anyone can send it anything. The checks run in the order that reads least:
the declared size and the signature headers first (no byte of the body read), then the body streamed under a
size bound and a deadline while its HMAC is computed, then the signature compared. Only a signed body is
parsed and handed to bolt. A refusal is one log line (status and reason, never the body, never a traceback)
and closes the connection, so nothing more of that request is read.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.asgi.http_response import AsgiHttpResponse
from slack_bolt.request import BoltRequest

log = logging.getLogger("citebot.slack")

# Slack documents no cap on the requests it sends, only on what a payload can carry: a message's text is cut
# at 40,000 characters (api.slack.com/changelog/2018-04-truncating-really-long-messages), a message holds at
# most 50 blocks and a modal or the Home tab 100 (api.slack.com/reference/block-kit/views), a section's text
# 3,000 characters. The largest payload those allow (a block_actions from a 100-block view with its message:
# about 340,000 characters, each at most 6 bytes as a JSON \u escape and 8 once form-encoded) is under 2.8 MB.
# 4 MiB is also Slack's own bolt-js default (HTTPReceiver's bodyLimit, v5.1.0: "legitimate requests from
# Slack should be well under this").
MAX_BODY_BYTES = 4 * 1024 * 1024
# Slack's "Verifying requests from Slack": a timestamp more than five minutes from local time may be a replay.
MAX_CLOCK_SKEW_S = 300
# Slack gives up on a request not answered within 3 seconds (its http_timeout, then it sends it again), so a
# body still arriving after that could never be answered in time; the deadline also frees a connection held
# open by a client that declares a length and sends less (uvicorn has no body timeout of its own).
BODY_DEADLINE_S = 3.0
SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")
# What each refusal answers: a reason for the client, never the body or which check failed beyond this.
ANSWERS = {
    400: "malformed request",
    401: "invalid request",
    404: "not found",
    408: "request body too slow",
    413: "request too large",
}

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class Refused(Exception):
    """A request turned away: the status to answer (None when the client left: nobody to answer) and why."""

    def __init__(self, status: int | None, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def headers_of(scope: MutableMapping[str, Any]) -> dict[str, str]:
    """A request's headers by lower-case name (the first of repeated ones), decoded as latin-1 as HTTP is."""
    found: dict[str, str] = {}
    for name, value in scope.get("headers") or []:
        found.setdefault(bytes(name).decode("latin-1").lower(), bytes(value).decode("latin-1"))
    return found


def check_declared_size(headers: dict[str, str], limit: int) -> None:
    """Refuse (413) a request whose Content-Length passes the bound, before a byte of its body is read."""
    declared = headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > limit:
        raise Refused(413, f"it declares {int(declared):,} bytes, over the {limit:,}-byte bound")


def check_signature_headers(headers: dict[str, str], now: float) -> tuple[str, str]:
    """The timestamp and signature of a request whose signature headers are present, well formed and fresh."""
    timestamp, signature = headers.get("x-slack-request-timestamp"), headers.get("x-slack-signature")
    if not timestamp or not signature:
        raise Refused(401, "no Slack signature headers")
    if not timestamp.isdigit() or len(timestamp) > 12:
        raise Refused(401, "a malformed X-Slack-Request-Timestamp")
    if abs(now - int(timestamp)) > MAX_CLOCK_SKEW_S:
        raise Refused(401, f"a stale timestamp ({int(now) - int(timestamp):+d} s from now)")
    if not SIGNATURE.fullmatch(signature):
        raise Refused(401, "a malformed X-Slack-Signature")
    return timestamp, signature


async def read_signed_body(
    receive: Receive, secret: str, timestamp: str, signature: str, limit: int, deadline: float
) -> bytes:
    """The body, streamed under the size bound and the deadline, its HMAC computed as it comes; refused
    unless Slack's signature matches."""
    mac = hmac.new(secret.encode(), f"v0:{timestamp}:".encode(), hashlib.sha256)
    body = bytearray()
    try:
        async with asyncio.timeout(deadline):
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    raise Refused(None, f"the client left after {len(body):,} bytes of its body")
                chunk = bytes(message.get("body", b""))
                if len(body) + len(chunk) > limit:
                    raise Refused(413, f"its body passed the {limit:,}-byte bound (reading stopped)")
                body += chunk
                mac.update(chunk)
                if not message.get("more_body", False):
                    break
    except TimeoutError:
        raise Refused(408, f"its body was not whole after {deadline:g} s ({len(body):,} bytes)") from None
    if not hmac.compare_digest(f"v0={mac.hexdigest()}", signature):
        raise Refused(401, "a signature that does not match its body")
    return bytes(body)


def bolt_request(body: bytes, scope: MutableMapping[str, Any], headers: dict[str, str]) -> BoltRequest:
    """The signed body as bolt's request; refused (400) when it is not UTF-8 JSON or form that bolt reads as
    an object."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "a body that is not UTF-8") from None
    query = bytes(scope.get("query_string", b"")).decode("latin-1")
    try:
        request = BoltRequest(body=text, query=query, headers=dict(headers))
    except Exception as exc:  # bolt's parsing of a payload it cannot read: bad input, not a bug of ours
        raise Refused(400, f"a payload bolt cannot read ({type(exc).__name__})") from None
    if not isinstance(request.body, dict):
        raise Refused(400, f"a payload that is a JSON {type(request.body).__name__}, not an object")
    return request


def refusal(status: int) -> AsgiHttpResponse:
    """A short JSON answer that closes the connection (nothing more of that request is read)."""
    headers: dict[str, Sequence[str]] = {"content-type": ["application/json"], "connection": ["close"]}
    return AsgiHttpResponse(status=status, headers=headers, body=json.dumps({"error": ANSWERS[status]}))


class GuardedSlackHandler:
    """An ASGI app: Slack's requests at `path` checked as this module says, then dispatched by bolt."""

    def __init__(
        self,
        app: App,
        signing_secret: str,
        path: str,
        limit: int = MAX_BODY_BYTES,
        deadline: float = BODY_DEADLINE_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not signing_secret:
            raise ValueError("HTTP mode needs the app's signing secret")
        self.app = app
        self.secret = signing_secret
        self.path = path
        self.limit = limit
        self.deadline = deadline
        self.clock = clock

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self.lifespan(receive, send)
        elif scope["type"] == "websocket":  # nothing here speaks it; closing before accepting answers 403
            await receive()
            await send({"type": "websocket.close", "code": 1008})
            refused(scope, 403, "a WebSocket upgrade")

    async def http(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        """Check, read, verify and parse the request, then let bolt answer it."""
        try:
            if scope["method"] != "POST" or scope["path"] != self.path:
                raise Refused(404, f"{scope['method']} {scope['path'][:100]!r}")
            headers = headers_of(scope)
            check_declared_size(headers, self.limit)
            timestamp, signature = check_signature_headers(headers, self.clock())
            secret, limit, deadline = self.secret, self.limit, self.deadline
            body = await read_signed_body(receive, secret, timestamp, signature, limit, deadline)
            request = bolt_request(body, scope, headers)
        except Refused as exc:
            refused(scope, exc.status, exc.reason)
            if exc.status is not None:
                await answer(send, refusal(exc.status))
            return
        try:
            response = self.app.dispatch(request)
        except Exception:  # bolt answers its listeners' and middleware's failures itself: this is a bug
            log.exception("bolt failed on a signed Slack request")
            await answer(send, AsgiHttpResponse(status=500, body=""))
            return
        await answer(send, AsgiHttpResponse(response.status, response.headers, response.body))

    @staticmethod
    async def lifespan(receive: Receive, send: Send) -> None:
        """Nothing to start or stop: say so."""
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
            message = await receive()
        if message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})


async def answer(send: Send, response: AsgiHttpResponse) -> None:
    """Send a whole response."""
    await send(dict(response.get_response_start()))
    await send(dict(response.get_response_body()))


def refused(scope: MutableMapping[str, Any], status: int | None, reason: str) -> None:
    """The one log line of a refusal: who, why and the status; never the body."""
    client: Iterable[Any] = scope.get("client") or ("an unknown client",)
    answered = f"answered {status}" if status is not None else "nothing answered"
    log.warning("refused a Slack request from %s: %s; %s", next(iter(client)), reason, answered)
