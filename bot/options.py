"""Options that several `citebot` commands share: the store folder and the collection."""

from __future__ import annotations

from pathlib import Path

import click

from retrieval.errors import InputError

store_option = click.option(
    "--store",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Store folder (default: CITEBOT_STORE, else the nearest .citebot from here upward, else your "
    "per-user store; `citebot status` says which).",
)


def _collection_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A --collection value, checked before anything is opened (never a path: no `/`, no `..`)."""
    from retrieval.store.names import check_collection_name

    if value is None:
        return None
    try:
        return check_collection_name(value)
    except InputError as exc:
        raise click.BadParameter(str(exc)) from exc


collection_option = click.option(
    "--collection",
    default=None,
    metavar="NAME",
    callback=_collection_name,
    help="The collection of the store to use (default citebot, or CITEBOT_COLLECTION).",
)
