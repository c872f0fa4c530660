"""Running the app: Socket Mode (default, no public URL) or HTTP behind a real ASGI server (uvicorn)."""

from __future__ import annotations

from typing import Any

from slack_bolt import App

EVENTS_PATH = "/slack/events"


def run_socket_mode(app: App, app_token: str) -> None:
    """Connect out to Slack over a websocket and serve until interrupted."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    SocketModeHandler(app, app_token).start()  # type: ignore[no-untyped-call]


def http_server(app: App, host: str, port: int) -> Any:
    """A uvicorn server for the app's ASGI handler at /slack/events (events, commands and actions)."""
    import uvicorn
    from slack_bolt.adapter.asgi import SlackRequestHandler

    config = uvicorn.Config(
        SlackRequestHandler(app, path=EVENTS_PATH), host=host, port=port, log_level="warning"
    )
    return uvicorn.Server(config)


def run_http(app: App, host: str, port: int) -> None:
    """Serve Slack's signed HTTP requests until interrupted."""
    http_server(app, host, port).run()
