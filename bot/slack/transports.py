"""Running the app: Socket Mode (default, no public URL) or HTTP behind a real ASGI server (uvicorn)."""

from __future__ import annotations

from typing import Any

from slack_bolt import App

EVENTS_PATH = "/slack/events"


def run_socket_mode(app: App, app_token: str) -> None:
    """Connect out to Slack over a websocket and serve until interrupted; the socket closed on the way out."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    handler = SocketModeHandler(app, app_token)
    try:
        handler.start()  # type: ignore[no-untyped-call]
    finally:
        handler.close()  # type: ignore[no-untyped-call]


def http_server(app: App, host: str, port: int, debug: bool = False) -> Any:
    """A uvicorn server for the app's ASGI handler at /slack/events (events, commands and actions)."""
    import uvicorn
    from slack_bolt.adapter.asgi import SlackRequestHandler

    level = "debug" if debug else "warning"
    config = uvicorn.Config(SlackRequestHandler(app, path=EVENTS_PATH), host=host, port=port, log_level=level)
    return uvicorn.Server(config)


def run_http(app: App, host: str, port: int, debug: bool = False) -> None:
    """Serve Slack's signed HTTP requests until interrupted."""
    # uvicorn takes SIGINT and SIGTERM while it serves, shuts down gracefully, then raises the signal again
    # under the handler it found: the caller's, which turns it into a KeyboardInterrupt.
    http_server(app, host, port, debug).run()
