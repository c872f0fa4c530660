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
    """A uvicorn server for the app at /slack/events (events, commands and actions), every request checked by
    http_guard before bolt sees it; uvicorn's records go to citebot's log (secrets masked), not its own."""
    import uvicorn

    from bot.slack.http_guard import GuardedSlackHandler
    from bot.slack.logs import quiet_request_bodies

    quiet_request_bodies()
    guarded = GuardedSlackHandler(app, signing_secret_of(app), EVENTS_PATH)
    level = "debug" if debug else "warning"
    # log_config=None: uvicorn installs no handler of its own, so its lines pass the root's redacting one.
    config = uvicorn.Config(guarded, host=host, port=port, log_level=level, log_config=None, access_log=debug)
    return uvicorn.Server(config)


def signing_secret_of(app: App) -> str:
    """The signing secret of an app build_app made (HTTP mode's settings carry it)."""
    bot = getattr(app, "extensions", {}).get("citebot")
    return str(bot.settings.signing_secret) if bot is not None else ""


def run_http(app: App, host: str, port: int, debug: bool = False) -> None:
    """Serve Slack's signed HTTP requests until interrupted."""
    # uvicorn takes SIGINT and SIGTERM while it serves, shuts down gracefully, then raises the signal again
    # under the handler it found: the caller's, which turns it into a KeyboardInterrupt.
    http_server(app, host, port, debug).run()
