"""Options that several `citebot` commands share: the store folder and the collection."""

from __future__ import annotations

import os
from pathlib import Path

import click

from retrieval.errors import InputError


class FolderPath(click.Path):
    """click's Path that refuses an empty value (Path("") would silently mean the current folder)."""

    def convert(
        self, value: str | os.PathLike[str], param: click.Parameter | None, ctx: click.Context | None
    ) -> str | bytes | os.PathLike[str]:
        """The path, or a usage error (exit 2) for an empty one."""
        if isinstance(value, str) and not value.strip():
            self.fail("is empty: name a folder (. for the current one)", param, ctx)
        return super().convert(value, param, ctx)


store_option = click.option(
    "--store",
    type=FolderPath(path_type=Path, file_okay=False),
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
