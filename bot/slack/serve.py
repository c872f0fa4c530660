"""`citebot slack`: the Slack runtime (settings, tokens, store, feedback, app) assembled and run."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import click

from bot.engines import engine_for, engine_to_read
from bot.errors import BadInput
from bot.settings import load_settings
from retrieval.store.layout import StoreLayout

STOPPED = "citebot stopped."


def serve(
    use_http: bool,
    port: int,
    host: str,
    watched: tuple[Path, ...],
    store: Path | None,
    collection: str | None,
) -> None:
    """Answer Slack until Ctrl-C or SIGTERM, the ways a server is stopped: then one line, exit 0."""
    from bot.watch_report import sigterm_as_interrupt

    try:
        with sigterm_as_interrupt():
            _serve(use_http, port, host, watched, store, collection)
    except KeyboardInterrupt:
        pass
    click.echo(STOPPED, err=True)


def _serve(
    use_http: bool,
    port: int,
    host: str,
    watched: tuple[Path, ...],
    store: Path | None,
    collection: str | None,
) -> None:
    """Check the tokens and the scopes file, open the store, then answer Slack until interrupted."""
    from bot.slack.app import build_app
    from bot.slack.feedback import FeedbackError, FeedbackPathError, FeedbackStore
    from bot.slack.logs import configure_logging
    from bot.slack.scopes import channel_scopes, check_scopes_file
    from bot.slack.settings import load_slack_settings
    from bot.slack.tokens import BOT_REFUSED, SlackRefused, check_tokens, refusal
    from bot.slack.transports import run_http, run_socket_mode

    slack_settings = load_slack_settings(http=use_http)
    settings = load_settings(store=store, collection=collection)
    debug = bool(os.environ.get("CITEBOT_DEBUG"))
    configure_logging([*slack_settings.secrets, settings.llm_api_key], debug)
    try:  # before the slow start-up, and before saying "listening"
        check_tokens(slack_settings, http=use_http)
    except SlackRefused as exc:
        raise click.ClickException(str(exc)) from exc
    check_scopes_file(
        slack_settings.scopes, settings.collection
    )  # before a store is made (unknown names after)
    if watched:
        from retrieval.ingest.watching import check_paths

        check_paths(watched)  # a missing path is bad input (exit 2), before the slow start-up
    # First: it refuses a store folder that holds anything but a store. Without --watch the bot reads what
    # `citebot ingest` made; with it, the watched paths are ingested into the store (made if need be).
    engine = engine_for(settings) if watched else engine_to_read(settings)
    try:
        feedback = FeedbackStore(slack_settings.feedback_db or StoreLayout(settings.store).feedback)
    except FeedbackPathError as exc:
        raise BadInput(str(exc)) from exc
    except FeedbackError as exc:
        raise click.ClickException(str(exc)) from exc
    engine.check_answerable()
    scopes = channel_scopes(engine, slack_settings.scopes)
    engine.chain()
    engine.embedder.embed_query("warm up")
    try:
        app = build_app(engine, slack_settings, feedback, http=use_http, scopes=scopes)
    except Exception as exc:  # bolt's BoltError when auth.test fails: the token was revoked since the check
        raise click.ClickException(refusal(exc, BOT_REFUSED, slack_settings)) from exc
    stop = threading.Event()
    if watched:
        from bot.watch_report import watch_in_background

        # The first ingest runs in the thread too: the bot answers from the index as it is meanwhile.
        watcher = watch_in_background(engine, list(watched), stop, ignore=[settings.store])
    click.echo(
        f"citebot is listening ({'HTTP on ' + host + ':' + str(port) if use_http else 'Socket Mode'}).",
        err=True,
    )
    try:
        if use_http:
            run_http(app, host, port, debug)
        else:
            run_socket_mode(app, slack_settings.app_token)
    finally:
        stop.set()
        if watched:
            watcher.join(timeout=5)  # mid-ingest it is left (a daemon): each committed batch is whole
