"""The Slack door end to end: real slack-bolt served by uvicorn and over Socket Mode, against the stand-in.

The app under test, the tokens it is given, and what to read back from the stand-in; the fixtures are in
conftest.py.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler

from bot.slack.app import build_app
from bot.slack.feedback import FeedbackStore
from bot.slack.scopes import LiveScopes
from bot.slack.settings import SlackSettings
from bot.slack.transports import EVENTS_PATH, http_server
from retrieval.engine import Engine
from tests.helpers.slack_standin import SlackStandIn, event_body, sign

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

    def send(
        self, event: dict[str, Any], headers: dict[str, str] | None = None, event_id: str | None = None
    ) -> float:
        """Deliver an event over HTTP (event_id from its ts unless given); assert the quick ack; return the
        send time."""
        began = time.monotonic()
        status, _ = self.post(event_body(event, event_id=event_id or f"Ev{event['ts']}"), headers)
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


def slack_env(slack: SlackStandIn, **extra: str) -> dict[str, str]:
    """What `citebot slack` needs to reach the stand-in with well-formed tokens."""
    env = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN, "SLACK_SIGNING_SECRET": SECRET}
    return env | {"CITEBOT_SLACK_API_URL": slack.api_url} | extra
