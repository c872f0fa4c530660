"""A loopback stand-in for Slack: Web API, response_url hooks and a Socket Mode websocket on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlparse

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve

BOT_METHODS = {"auth.test", "chat.postMessage", "chat.postEphemeral", "chat.update", "chat.delete"}
BOT_METHODS |= {"reactions.add", "reactions.remove", "conversations.replies", "views.open", "views.publish"}
BOT_METHODS |= {"chat.getPermalink", "users.conversations"}
INVALID_AUTH = {"ok": False, "error": "invalid_auth"}
AUTH_TEST = {"ok": True, "url": "https://standin.slack.com/", "team": "Stand-in", "team_id": "T1"}
AUTH_TEST |= {"user": "citebot", "user_id": "UBOT", "bot_id": "BBOT"}
APP = {"token": "verification-token", "api_app_id": "A1"}


@dataclass
class Call:
    """One Web API call as the stand-in received it."""

    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    injected: str | None = None  # "429" or the error name when a fail_next/error_next answered it
    at: float = field(default_factory=time.monotonic)  # when it arrived, for latency measurements


class SlackStandIn:
    """Slack on loopback: `with SlackStandIn() as slack:` gives `api_url`, recorded `calls` and `push()`."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.responses: defaultdict[str, list[Any]] = defaultdict(list)
        self.acks: dict[str, Any] = {}
        self.messages: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        self._failures: defaultdict[str, list[tuple[int, dict[str, str], dict[str, Any]]]] = defaultdict(list)
        self._refused: dict[str, str] = {}
        self._clients: set[ServerConnection] = set()
        self._ts = 1700000000_000000
        self.members: dict[str, set[str]] = {}  # channel -> members; without "UBOT" (citebot): not_in_channel

    # ---- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> SlackStandIn:
        standin = self

        class Handler(_Handler):
            slack = standin

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = False  # so server_close() joins the request threads
        self._ws = serve(self._on_socket, "127.0.0.1", 0, compression=None, close_timeout=2)
        self.port = self._http.server_address[1]
        self.ws_port = self._ws.socket.getsockname()[1]
        self.api_url = f"http://127.0.0.1:{self.port}/api/"
        self.ws_url = f"ws://127.0.0.1:{self.ws_port}/link/?ticket=standin&app_id=A1"
        self._threads = [
            threading.Thread(target=self._http.serve_forever, args=(0.05,), name="slack-http"),
            threading.Thread(target=self._ws.serve_forever, name="slack-ws"),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._ws.shutdown()
        self._http.shutdown()
        self._http.server_close()
        for thread in self._threads:
            thread.join(timeout=10)

    # ---- seeding and inspection ------------------------------------------------------------------
    def response_url(self, name: str) -> str:
        """A response_url whose POSTs land in `self.responses[name]`."""
        return f"http://127.0.0.1:{self.port}/response/{name}"

    def new_ts(self) -> str:
        """A fresh message ts from the same clock as the bot's messages (seed people's messages with it)."""
        with self._cond:
            return self._next_ts()

    def add_message(
        self,
        channel: str,
        ts: str,
        text: str,
        user: str,
        thread_ts: str | None = None,
        bot_id: str | None = None,
    ) -> None:
        """Seed a message that conversations.replies will return."""
        message = {"type": "message", "channel": channel, "ts": ts, "text": text, "user": user}
        message.update({k: v for k, v in (("thread_ts", thread_ts), ("bot_id", bot_id)) if v is not None})
        with self._cond:
            self.messages.append(message)

    def calls_to(self, method: str) -> list[Call]:
        """The recorded calls of one Web API method, in arrival order."""
        with self._cond:
            return [call for call in self.calls if call.method == method]

    def fail_next(self, method: str, status: int = 429, retry_after: int = 1) -> None:
        """Answer the next call of `method` with HTTP `status` and a Retry-After header."""
        with self._cond:
            self._failures[method].append(
                (status, {"Retry-After": str(retry_after)}, {"ok": False, "error": "ratelimited"})
            )

    def error_next(self, method: str, error: str = "channel_not_found") -> None:
        """Answer the next call of `method` with HTTP 200 and {"ok": false, "error": error}."""
        with self._cond:
            self._failures[method].append((200, {}, {"ok": False, "error": error}))

    def refuse(self, token: str, error: str = "invalid_auth") -> None:
        """Answer every call with this token {"ok": false, "error": error}, as Slack does a revoked one."""
        with self._cond:
            self._refused[token] = error

    def _wait(self, ready: Callable[[], Any], timeout: float, what: Callable[[], str]) -> Any:
        """Wait until ready() is truthy and return it, else raise AssertionError(what())."""
        with self._cond:
            if not self._cond.wait_for(ready, timeout):
                raise AssertionError(what())
            return ready()

    def wait_for(self, method: str, count: int = 1, timeout: float = 10) -> list[Call]:
        """Block until `count` calls of `method` arrived; return them."""

        def arrived() -> list[Call] | None:
            got = [call for call in self.calls if call.method == method]
            return got if len(got) >= count else None

        calls: list[Call] = self._wait(
            arrived,
            timeout,
            lambda: f"wanted {count} x {method}, got: {[(c.method, c.params) for c in self.calls]}",
        )
        return calls

    def wait_for_reply(self, thread_ts: str, timeout: float = 60) -> Call:
        """Block until a chat.postMessage in the thread of `thread_ts` arrived; return the first."""

        def replied() -> Call | None:
            return next(
                (
                    c
                    for c in self.calls
                    if c.method == "chat.postMessage" and c.params.get("thread_ts") == thread_ts
                ),
                None,
            )

        reply: Call = self._wait(replied, timeout, lambda: f"no reply in the thread of {thread_ts}")
        return reply

    def wait_for_response(self, name: str, count: int = 1, timeout: float = 10) -> list[Any]:
        """Block until `count` POSTs reached response_url(name); return them."""
        bodies: list[Any] = self._wait(
            lambda: list(self.responses[name]) if len(self.responses[name]) >= count else None,
            timeout,
            lambda: f"wanted {count} POSTs to response/{name}, got: {dict(self.responses)}",
        )
        return bodies

    def wait_for_ack(self, envelope_id: str, timeout: float = 10) -> Any:
        """Block until the Socket Mode client acked `envelope_id`; return the ack's payload (or None)."""
        self._wait(
            lambda: envelope_id in self.acks, timeout, lambda: f"no ack for {envelope_id}: {self.acks}"
        )
        return self.acks[envelope_id]

    # ---- Socket Mode -----------------------------------------------------------------------------
    def push(
        self, envelope_type: str, payload: dict[str, Any], accepts_response_payload: bool = False
    ) -> str:
        """Send an envelope to the connected Socket Mode client(s); return its envelope_id."""
        clients = self._wait(lambda: set(self._clients), 10, lambda: "no Socket Mode client connected")
        envelope_id = str(uuid.uuid4())
        envelope = {
            "envelope_id": envelope_id,
            "type": envelope_type,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
        }
        for client in clients:
            client.send(json.dumps(envelope))
        return envelope_id

    def _on_socket(self, conn: ServerConnection) -> None:
        """Per websocket connection: say hello, then record every ack until the client goes."""
        debug = {"host": "standin", "build_number": 1, "approximate_connection_time": 3600}
        hello = {
            "type": "hello",
            "num_connections": 1,
            "debug_info": debug,
            "connection_info": {"app_id": "A1"},
        }
        conn.send(json.dumps(hello))
        with self._cond:
            self._clients.add(conn)
            self._cond.notify_all()
        try:
            for raw in conn:
                message = json.loads(raw)
                if "envelope_id" in message:
                    with self._cond:
                        self.acks[message["envelope_id"]] = message.get("payload")
                        self._cond.notify_all()
        except ConnectionClosed:
            pass
        finally:
            with self._cond:
                self._clients.discard(conn)

    # ---- Web API ---------------------------------------------------------------------------------
    def _next_ts(self) -> str:
        """A fresh message ts, increasing by 100 microseconds per message."""
        self._ts += 100
        return f"{self._ts // 1_000_000}.{self._ts % 1_000_000:06d}"

    def _answer(
        self, method: str, params: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, dict[str, str], Any]:
        """Record the call; return (status, extra headers, JSON body). The caller holds the lock."""
        call = Call(method, params, headers)
        self.calls.append(call)
        self._cond.notify_all()
        if self._failures[method]:
            status, extra, body = self._failures[method].pop(0)
            call.injected = str(status) if status != 200 else body["error"]
            return status, extra, body
        auth = headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else str(params.get("token", ""))
        if token in self._refused:
            call.injected = self._refused[token]
            return 200, {}, {"ok": False, "error": self._refused[token]}
        return 200, {}, self._method(method, params, token)

    def _method(self, method: str, params: dict[str, Any], token: str) -> dict[str, Any]:
        """The body Slack would answer a (not injected) call with."""
        if method == "apps.connections.open":
            return {"ok": True, "url": self.ws_url} if token.startswith("xapp-") else INVALID_AUTH
        if method not in BOT_METHODS:
            return {"ok": False, "error": "unknown_method"}
        if not token.startswith("xoxb-"):
            return INVALID_AUTH
        channel = params.get("channel")
        if method == "auth.test":
            return AUTH_TEST
        if method == "chat.postMessage" and "UBOT" not in self.members.get(str(channel), {"UBOT"}):
            return {"ok": False, "error": "not_in_channel"}
        if method == "chat.getPermalink":
            link = f"{AUTH_TEST['url']}archives/{channel}/p{str(params.get('message_ts')).replace('.', '')}"
            return {"ok": True, "channel": channel, "permalink": link}
        if method == "users.conversations":  # the channels the user shares with citebot
            shared = [c for c, people in self.members.items() if {params.get("user"), "UBOT"} <= people]
            return {"ok": True, "channels": [{"id": c} for c in sorted(shared)], "response_metadata": {}}
        if method == "chat.postMessage":
            ts = self._next_ts()
            message = {"type": "message", "channel": channel, "ts": ts, "user": "UBOT", "bot_id": "BBOT"}
            message.update({k: params[k] for k in ("text", "blocks", "thread_ts", "metadata") if k in params})
            self.messages.append(message)
            return {"ok": True, "channel": channel, "ts": ts, "message": _shown(message, False)}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": self._next_ts()}
        if method == "conversations.replies":
            thread = params.get("ts")
            found = [
                m
                for m in self.messages
                if thread and m["channel"] == channel and thread in (m["ts"], m.get("thread_ts"))
            ]
            found.sort(key=lambda m: tuple(int(part) for part in m["ts"].split(".")))
            if not found:
                return {"ok": False, "error": "thread_not_found"}
            metadata = str(params.get("include_all_metadata", "")).lower() in ("1", "true")
            return {"ok": True, "messages": [_shown(m, metadata) for m in found], "has_more": False}
        if method in ("chat.update", "chat.delete"):
            return {"ok": True, "channel": channel, "ts": params.get("ts")}
        return {"ok": True}


def _shown(message: dict[str, Any], metadata: bool) -> dict[str, Any]:
    """A stored message as the Web API returns it: metadata only when include_all_metadata asked for it."""
    return dict(message) if metadata else {k: v for k, v in message.items() if k != "metadata"}


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.0 handler: one request per connection, so server_close() has nothing idle to wait for."""

    slack: SlackStandIn
    timeout = 5

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    def do_GET(self) -> None:  # query-string params, served like POST
        self.do_POST()

    def do_POST(self) -> None:
        """Dispatch /api/METHOD and /response/NAME."""
        url = urlparse(self.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        if self.headers.get("Content-Type", "").startswith("application/json"):
            params: dict[str, Any] = json.loads(raw or "{}")
        else:
            params = dict(parse_qsl(url.query)) | dict(parse_qsl(raw))
            if isinstance(params.get("blocks"), str):
                params["blocks"] = json.loads(params["blocks"])
        slack = self.slack
        with slack._cond:
            if url.path.startswith("/response/"):
                slack.responses[url.path.removeprefix("/response/")].append(params)
                slack._cond.notify_all()
                status, extra, body = 200, dict[str, str](), {"ok": True}
            else:
                status, extra, body = slack._answer(
                    url.path.removeprefix("/api/"), params, dict(self.headers)
                )
        data = json.dumps(body).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json; charset=utf-8", **extra}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


# ---- request builders for the HTTP (Events API) mode ---------------------------------------------
def sign(secret: str, body: bytes | str, timestamp: int | None = None) -> dict[str, str]:
    """The X-Slack-Request-Timestamp / X-Slack-Signature headers Slack would send with `body`."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    raw = body.decode() if isinstance(body, bytes) else body
    digest = hmac.new(secret.encode(), f"v0:{ts}:{raw}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def event_body(event: dict[str, Any], event_id: str = "Ev1", team: str = "T1") -> dict[str, Any]:
    """An `event_callback` envelope around `event` (also the Socket Mode events_api payload)."""
    auth = {"enterprise_id": None, "team_id": team, "user_id": "UBOT", "is_bot": True}
    return (
        APP
        | {"type": "event_callback", "team_id": team, "event": event, "event_id": event_id}
        | {"event_time": int(time.time()), "authorizations": [auth], "is_ext_shared_channel": False}
    )


def slash_payload(
    command: str, text: str, user_id: str, channel_id: str, response_url: str, trigger_id: str = "T"
) -> dict[str, str]:
    """A slash command's fields (the Socket Mode slash_commands payload)."""
    where = {"team_id": "T1", "team_domain": "standin", "channel_id": channel_id, "channel_name": "general"}
    who = {"user_id": user_id, "user_name": user_id.lower(), "trigger_id": trigger_id}
    return APP | where | who | {"command": command, "text": text, "response_url": response_url}


def slash_body(
    command: str, text: str, user_id: str, channel_id: str, response_url: str, trigger_id: str = "T"
) -> str:
    """A slash command's form-encoded HTTP body."""
    return urlencode(slash_payload(command, text, user_id, channel_id, response_url, trigger_id))


def action_payload(
    action_id: str,
    value: str,
    user_id: str,
    channel_id: str,
    response_url: str,
    message_ts: str | None = None,
    thread_ts: str | None = None,
) -> dict[str, Any]:
    """A `block_actions` interaction for a button click (the Socket Mode interactive payload)."""
    action = {"type": "button", "action_id": action_id, "block_id": "b1", "value": value, "action_ts": "1.0"}
    container: dict[str, Any] = {"type": "message", "channel_id": channel_id, "is_ephemeral": not message_ts}
    payload: dict[str, Any] = APP | {
        "type": "block_actions",
        "trigger_id": "T",
        "team": {"id": "T1"},
        "actions": [action],
    }
    payload |= {"user": {"id": user_id, "username": user_id.lower(), "team_id": "T1"}}
    payload |= {"channel": {"id": channel_id}, "container": container, "response_url": response_url}
    if message_ts is not None:
        container["message_ts"] = message_ts
        message = {"type": "message", "ts": message_ts, "user": "UBOT", "bot_id": "BBOT"}
        payload["message"] = message if thread_ts is None else message | {"thread_ts": thread_ts}
    return payload


def action_body(
    action_id: str,
    value: str,
    user_id: str,
    channel_id: str,
    response_url: str,
    message_ts: str | None = None,
    thread_ts: str | None = None,
) -> str:
    """A block_actions interaction's form-encoded HTTP body (`payload=` JSON)."""
    payload = action_payload(action_id, value, user_id, channel_id, response_url, message_ts, thread_ts)
    return urlencode({"payload": json.dumps(payload)})


def sign_raw(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The signature headers Slack would send with raw bytes (which need not be UTF-8)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


class RawRequest:
    """One HTTP/1.1 POST on its own socket, sent piece by piece as a hostile client would: the headers on
    opening, then only as much of the body as `send` is given; the answer's status read whenever asked."""

    def __init__(self, port: int, headers: dict[str, str], path: str = "/slack/events") -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
        self.sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        self.sent = 0

    def send(self, data: bytes) -> bool:
        """Send body bytes; False when the server had closed the connection (it refused the request)."""
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            return False
        self.sent += len(data)
        return True

    def send_chunk(self, data: bytes) -> bool:
        """Send one chunk of a Transfer-Encoding: chunked body (b"" ends the body)."""
        return self.send(f"{len(data):x}\r\n".encode() + data + b"\r\n")

    def half_close(self) -> None:
        """Stop sending (the client leaves mid-body)."""
        self.sock.shutdown(socket.SHUT_WR)

    def status(self) -> int:
        """The answer's status code, waiting up to the socket's 10 s timeout (a server that waits for the
        rest of the body never answers: socket.timeout)."""
        line = self.sock.makefile("rb").readline()
        assert line.startswith(b"HTTP/1.1 "), line
        return int(line.split()[1])

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()
