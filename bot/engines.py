"""The settings and the engine as the doors build them: once per command."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from bot.settings import Settings
    from retrieval.engine import Engine


# pydantic-settings takes 0.3 s to import: it loads when a command builds its settings, never for
# `citebot --help` or a usage error.
def load_settings(**overrides: Any) -> Settings:
    """The settings, built once at the door (bot.settings.load_settings); -v says which store they name."""
    from bot.settings import load_settings as load

    settings = load(**overrides)
    context = click.get_current_context(silent=True)
    if context is not None and context.find_root().params.get("verbose"):
        click.echo(f"Store: {settings.store} ({settings.store_origin()})", err=True)
    return settings


def engine_for(settings: Settings, create: bool = True) -> Engine:
    """The engine for these settings (imported here so `citebot --help` stays fast)."""
    from bot.threads import configure_threads

    # Answering's threads decide the wait policy (1 thread measured best without PASSIVE, make bench-busy);
    # ingest's batches on every core keep torch's default policy, as they always had.
    configure_threads(settings.threads)
    from bot.slack.feedback import VotesOnDisk
    from retrieval.engine import Engine

    # Every door reads the one feedback file Slack writes, so a vote helps whoever reads its collection.
    config = replace(settings.engine_config(), feedback=VotesOnDisk(feedback_db(settings)))
    # Building the ONNX files (once per machine) takes ~15 s: say so on stderr rather than seem to hang.
    return Engine(config, create=create, notice=lambda text: click.echo(text, err=True))


def feedback_db(settings: Settings, strict: bool = False) -> Path:
    """The Slack feedback database: CITEBOT_SLACK_FEEDBACK_DB, else the store's feedback.sqlite3.

    strict: a malformed Slack setting is refused (`citebot feedback`, which is about Slack's votes);
    otherwise asking reads the store's own file and leaves the error to `citebot slack`."""
    from bot.errors import SettingsError
    from bot.slack.settings import read_slack_settings
    from retrieval.store.layout import StoreLayout

    try:
        named = read_slack_settings().feedback_db
    except SettingsError:
        if strict:
            raise
        named = None
    return named or StoreLayout(settings.store).feedback


def engine_to_read(settings: Settings) -> Engine:
    """The engine of a store and collection that exist: reading never makes a store or a collection."""
    with where_the_store_was_looked_for(settings):
        return engine_for(settings, create=False)


@contextmanager
def where_the_store_was_looked_for(settings: Settings) -> Iterator[None]:
    """A missing store that no setting named is explained by where it was looked for."""
    from retrieval.errors import NoStoreError

    try:
        yield
    except NoStoreError as exc:
        if settings.chroma_url or "store" in settings.model_fields_set:
            raise
        from bot.store_finder import STORE_FOLDER, user_store

        raise NoStoreError(
            f"No citebot store found (no {STORE_FOLDER} in the current folder or above it, and no per-user "
            f"store at {user_store()}); run `citebot ingest FOLDER` to make one"
        ) from exc
