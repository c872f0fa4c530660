"""A loopback stand-in for an OpenAI-compatible chat endpoint: POST /v1/chat/completions, streamed or not."""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

COMPLETIONS = "/v1/chat/completions"
FAILED = "The stand-in model failed on purpose."
_TOKEN = re.compile(r"\s*\S+")  # a word with the whitespace before it, as chat models stream


def tokens_of(text: str) -> list[str]:
    """How the stand-in cuts a reply into streamed tokens (their join is the reply)."""
    parts: list[str] = _TOKEN.findall(text)
    if rest := text[len("".join(parts)) :]:
        parts.append(rest)  # trailing whitespace, as a token of its own
    return parts


@dataclass(frozen=True)
class Script:
    """What the stand-in does with every request from now on."""

    action: Literal["reply", "fail", "hang", "garble"]
    text: str = ""  # reply: the assistant message; fail: the error message ("{key}": the bearer token sent)
    status: int = 200
    seconds: float = 0.0  # hang: how long; reply: the pause before each streamed token


class OpenAIStandIn:
    """`with OpenAIStandIn() as server:` gives `base_url`, the recorded `requests` and the script setters."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []  # one per request, names lower-cased
        self.script = Script("reply", "")
        self._lock = threading.Lock()
        self._closing = threading.Event()

    def __enter__(self) -> OpenAIStandIn:
        standin = self

        class Handler(_Handler):
            server_standin = standin

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = False  # so server_close() joins the request threads
        self.port = self._http.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self._http.serve_forever, args=(0.05,), name="openai-standin")
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()  # a hanging request gives up at once
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=10)

    def reply(self, text: str, token_pause: float = 0.0) -> None:
        """Answer every request with this assistant message (streamed token by token when asked to)."""
        self.script = Script("reply", text, seconds=token_pause)

    def fail(self, status: int = 500, message: str = FAILED) -> None:
        """Answer every request, on any path, with this HTTP error and an error body carrying the message.

        "{key}" in the message becomes the bearer token the request sent, as endpoints that echo a rejected
        key do. The body is OpenAI's shape on the OpenAI route, Ollama's ({"error": "..."}) elsewhere.
        """
        self.script = Script("fail", message, status=status)

    def garble(self, text: str) -> None:
        """Answer every request with HTTP 200 and this text as a body that claims to be JSON."""
        self.script = Script("garble", text)

    def hang(self, seconds: float) -> None:
        """Say nothing to any request for this long (or until the stand-in closes), as a stuck model would."""
        self.script = Script("hang", seconds=seconds)

    def record(self, body: dict[str, Any], headers: dict[str, str]) -> Script:
        """Keep a request; the script that answers it."""
        with self._lock:
            self.requests.append(body)
            self.headers.append(headers)
            return self.script

    def prompt(self, index: int = -1) -> tuple[str, str]:
        """The system and user texts of a recorded request."""
        messages = self.requests[index]["messages"]
        system = next(m["content"] for m in messages if m["role"] == "system")
        user = next(m["content"] for m in messages if m["role"] == "user")
        return system, user


class _Handler(BaseHTTPRequestHandler):
    server_standin: OpenAIStandIn

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: pytest shows what the tests assert, not an access log."""

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
        headers = {name.lower(): value for name, value in self.headers.items()}
        script = self.server_standin.record(body, headers)
        try:
            if script.action == "hang":
                self.server_standin._closing.wait(script.seconds)
            elif script.action == "fail":
                key = headers.get("authorization", "").removeprefix("Bearer ")
                message = script.text.replace("{key}", key)
                if self.path == COMPLETIONS:
                    self._json(script.status, {"error": {"message": message, "type": "server_error"}})
                else:
                    self._json(script.status, {"error": message})
            elif script.action == "garble":
                self._send(200, script.text.encode())
            elif self.path != COMPLETIONS:
                error = {"message": f"no route {self.path}", "type": "invalid_request_error"}
                self._json(404, {"error": error})
            elif body.get("stream"):
                self._stream(body, script.text, script.seconds)
            else:
                self._json(200, _completion(body, script.text))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its timeout); nothing to tell it

    def _json(self, status: int, data: dict[str, Any]) -> None:
        self._send(status, json.dumps(data).encode())

    def _send(self, status: int, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _stream(self, body: dict[str, Any], text: str, pause: float) -> None:
        # HTTP/1.0 without Content-Length: the stream ends when the connection closes, after [DONE].
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        deltas: list[tuple[dict[str, str], str | None]] = [({"role": "assistant", "content": ""}, None)]
        deltas += [({"content": token}, None) for token in tokens_of(text)]
        deltas.append(({}, "stop"))
        for delta, finish in deltas:
            if delta.get("content"):
                time.sleep(pause)
            self._event(_chunk(body, [{"index": 0, "delta": delta, "finish_reason": finish}]))
        if (body.get("stream_options") or {}).get("include_usage"):
            self._event({**_chunk(body, []), "usage": _usage(text)})
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()

    def _event(self, data: dict[str, Any]) -> None:
        self.wfile.write(f"data: {json.dumps(data)}\n\n".encode())
        self.wfile.flush()


def _usage(text: str) -> dict[str, int]:
    completion = len(tokens_of(text))
    return {"prompt_tokens": 100, "completion_tokens": completion, "total_tokens": 100 + completion}


def _completion(body: dict[str, Any], text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-standin",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "stub"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": _usage(text),
    }


def _chunk(body: dict[str, Any], choices: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": "chatcmpl-standin",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": body.get("model", "stub"),
        "choices": choices,
    }
