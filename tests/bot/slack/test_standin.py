"""The Slack stand-in answers real slack_sdk / slack_bolt clients the way Slack would."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.client import BaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from tests.helpers.slack_standin import SlackStandIn, action_body, event_body, sign, slash_body


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    """A running stand-in; the test fails if it leaves threads behind."""
    before = set(threading.enumerate())
    with SlackStandIn() as standin:
        yield standin
    leftover = [t.name for t in threading.enumerate() if t not in before and t.is_alive()]
    assert not leftover, f"stand-in left threads running: {leftover}"


def test_web_client_posts_and_reads_thread(slack: SlackStandIn) -> None:
    """auth.test, chat.postMessage, then conversations.replies sees the seeded parent and the reply."""
    client = WebClient(base_url=slack.api_url, token="xoxb-test")
    auth = client.auth_test()
    assert (auth["user_id"], auth["bot_id"], auth["team_id"]) == ("UBOT", "BBOT", "T1")
    slack.add_message("C1", "1600000000.000100", "what did the US offer?", "U1")
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "answer"}}]
    posted = client.chat_postMessage(
        channel="C1", thread_ts="1600000000.000100", text="answer", blocks=blocks
    )
    second = client.chat_postMessage(channel="C1", text="another")
    assert float(second["ts"]) > float(posted["ts"])
    replies = client.conversations_replies(channel="C1", ts="1600000000.000100")
    assert [m["text"] for m in replies["messages"]] == ["what did the US offer?", "answer"]
    assert replies["messages"][1]["blocks"] == blocks
    call = slack.wait_for("chat.postMessage", count=2)[0]
    assert call.params["thread_ts"] == "1600000000.000100"
    assert call.headers["Authorization"] == "Bearer xoxb-test"
    with pytest.raises(SlackApiError, match="unknown_method"):
        client.api_call("no.such.method")


def test_metadata_is_kept_and_returned_only_on_request(slack: SlackStandIn) -> None:
    """chat.postMessage keeps `metadata`; conversations.replies shows it only with include_all_metadata."""
    client = WebClient(base_url=slack.api_url, token="xoxb-test")
    parent = slack.new_ts()
    slack.add_message("C1", parent, "what did the US offer?", "U1")
    metadata = {"event_type": "citebot_answer", "event_payload": {"question": "q", "cited": ["a#1-2"]}}
    posted = client.chat_postMessage(channel="C1", thread_ts=parent, text="answer", metadata=metadata)
    assert float(posted["ts"]) > float(parent) and "metadata" not in posted["message"]
    plain = client.conversations_replies(channel="C1", ts=parent)["messages"]
    assert [m.get("metadata") for m in plain] == [None, None]
    full = client.conversations_replies(channel="C1", ts=parent, include_all_metadata=True)["messages"]
    assert [m.get("metadata") for m in full] == [None, metadata]


def test_rate_limit_is_retried_after_retry_after(slack: SlackStandIn) -> None:
    """An injected 429 + Retry-After is honoured by RateLimitErrorRetryHandler; the retry succeeds."""
    client = WebClient(base_url=slack.api_url, token="xoxb-test")
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=1))
    slack.fail_next("chat.postMessage", status=429, retry_after=1)
    started = time.monotonic()
    response = client.chat_postMessage(channel="C1", text="hello")
    assert response["ok"] and time.monotonic() - started >= 1
    calls = slack.calls_to("chat.postMessage")
    assert [c.injected for c in calls] == ["429", None]


def test_error_next_and_invalid_token(slack: SlackStandIn) -> None:
    """error_next answers ok=false once; a non-xoxb token gets invalid_auth."""
    client = WebClient(base_url=slack.api_url, token="xoxb-test")
    slack.error_next("chat.postMessage", error="channel_not_found")
    with pytest.raises(SlackApiError, match="channel_not_found"):
        client.chat_postMessage(channel="C404", text="hi")
    assert client.chat_postMessage(channel="C1", text="hi")["ok"]
    with pytest.raises(SlackApiError, match="invalid_auth"):
        WebClient(base_url=slack.api_url, token="xoxp-user").auth_test()
    with pytest.raises(SlackApiError, match="invalid_auth"):
        client.apps_connections_open(app_token="xoxb-not-an-app-token")


def test_refused_token_gets_its_error_everywhere(slack: SlackStandIn) -> None:
    """Bad input: well-formed app and bot tokens that refuse() marked (as if revoked); others still work."""
    slack.refuse("xapp-revoked")
    slack.refuse("xoxb-revoked", error="token_revoked")
    with pytest.raises(SlackApiError, match="invalid_auth"):
        WebClient(base_url=slack.api_url, token="xapp-revoked").apps_connections_open(
            app_token="xapp-revoked"
        )
    with pytest.raises(SlackApiError, match="token_revoked"):
        WebClient(base_url=slack.api_url, token="xoxb-revoked").auth_test()
    good = WebClient(base_url=slack.api_url, token="xapp-good").apps_connections_open(app_token="xapp-good")
    assert good["url"] == slack.ws_url
    assert [c.injected for c in slack.calls] == ["invalid_auth", "token_revoked", None]


def test_response_url_records_json(slack: SlackStandIn) -> None:
    """POSTs to a response_url land in slack.responses[name]."""
    request = urllib.request.Request(
        slack.response_url("cmd1"),
        data=json.dumps({"text": "working on it", "response_type": "ephemeral"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as reply:
        assert reply.status == 200
    assert slack.wait_for_response("cmd1") == [{"text": "working on it", "response_type": "ephemeral"}]


def test_builtin_socket_mode_client_receives_and_acks(slack: SlackStandIn) -> None:
    """slack_sdk's builtin SocketModeClient connects over ws://, gets an events_api envelope, acks it."""
    received: list[dict[str, Any]] = []

    def listener(client: BaseSocketModeClient, request: SocketModeRequest) -> None:
        received.append(request.payload)
        client.send_socket_mode_response(
            SocketModeResponse(envelope_id=request.envelope_id, payload={"n": 1})
        )

    web = WebClient(base_url=slack.api_url)
    client = SocketModeClient(app_token="xapp-test", web_client=web)
    client.socket_mode_request_listeners.append(listener)
    try:
        client.connect()
        envelope_id = slack.push("events_api", event_body({"type": "app_mention", "text": "hi", "ts": "1.0"}))
        assert slack.wait_for_ack(envelope_id) == {"n": 1}
    finally:
        client.close()
    assert received[0]["event"]["text"] == "hi"
    assert slack.calls_to("apps.connections.open")[0].headers["Authorization"] == "Bearer xapp-test"


def test_bolt_socket_mode_handler_end_to_end(slack: SlackStandIn) -> None:
    """A bolt App behind the (builtin) SocketModeHandler acks a mention and replies in its thread."""
    executor = ThreadPoolExecutor(max_workers=2)  # bolt never shuts its default one down
    app = App(client=WebClient(base_url=slack.api_url, token="xoxb-test"), listener_executor=executor)

    @app.event("app_mention")
    def mention(event: dict[str, Any], say: Any) -> None:
        say(text=f"you said {event['text']}", thread_ts=event["ts"])

    handler = SocketModeHandler(app, "xapp-test")
    try:
        handler.connect()
        event = {
            "type": "app_mention",
            "text": "hello",
            "user": "U1",
            "channel": "C1",
            "ts": "1700000001.000100",
        }
        envelope_id = slack.push("events_api", event_body(event))
        slack.wait_for_ack(envelope_id)
        (call,) = slack.wait_for("chat.postMessage")
    finally:
        handler.close()
        executor.shutdown()
    assert (
        call.params | {"channel": "C1", "text": "you said hello", "thread_ts": "1700000001.000100"}
        == call.params
    )
    assert call.params["team_id"] == "T1"  # bolt's say() adds the team from the authorization


def test_sign_matches_slack_sdk_verifier() -> None:
    """sign() produces headers SignatureVerifier accepts, for JSON and form bodies."""
    verifier = SignatureVerifier("s3cret")
    bodies = [
        json.dumps(event_body({"type": "app_mention", "text": "hi"})),
        slash_body("/cite", "what?", "U1", "C1", "http://127.0.0.1:1/response/x"),
        action_body(
            "more", "v", "U1", "C1", "http://127.0.0.1:1/response/y", message_ts="1.2", thread_ts="1.1"
        ),
    ]
    for body in bodies:
        headers = sign("s3cret", body)
        assert verifier.is_valid(body, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"])
        assert verifier.is_valid_request(body.encode(), headers)
    stale = sign("s3cret", "x", timestamp=int(time.time()) - 3600)
    assert not verifier.is_valid("x", stale["X-Slack-Request-Timestamp"], stale["X-Slack-Signature"])
