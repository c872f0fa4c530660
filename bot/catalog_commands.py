"""`citebot docs`, `forget` and `collections`: what a store holds, and taking documents or collections out."""

from __future__ import annotations

import json
from pathlib import Path

import click

from bot.engines import engine_to_read, load_settings, where_the_store_was_looked_for
from bot.errors import BadInput, doors
from bot.options import collection_option, store_option
from bot.render import json_line, safe


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON line per document.")
@store_option
@collection_option
@doors
def docs(as_json: bool, store: Path | None, collection: str | None = None) -> None:
    """List the documents a collection indexes: name, format, pages, chunks, when, parser, stale or not."""
    documents = engine_to_read(load_settings(store=store, collection=collection)).documents()
    for document in documents:
        if as_json:
            click.echo(json_line(document.as_json()))
            continue
        pages = f"{document.pages} pages" if document.pages else "-"
        stale = "  STALE (changed since ingest)" if document.stale else ""
        parser = document.parser or "-"
        click.echo(
            safe(
                f"{document.source}  {document.format}  {pages}  {document.chunks} chunks  "
                f"{document.ingested_at}  {parser}{stale}"
            )
        )
    if not documents and not as_json:
        click.echo("No documents indexed.")


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@store_option
@collection_option
@doors
def forget(paths: tuple[Path, ...], store: Path | None, collection: str | None = None) -> None:
    """Remove PATHS (files, folders, or names as `citebot docs` lists them) from the index; the files stay."""
    removed = engine_to_read(load_settings(store=store, collection=collection)).forget(list(paths))
    for source in removed:
        click.echo(safe(f"forgot {source}"))
    click.echo(f"{_documents(len(removed))} removed from the index.")


@click.command()
@click.option(
    "--drop", "drop", metavar="NAME", default=None, help="Delete the collection NAME from the store."
)
@click.option("--yes", is_flag=True, help="Confirm --drop (it cannot be undone; the files stay).")
@click.option("--json", "as_json", is_flag=True, help="Print the collections as one JSON object.")
@store_option
@doors
def collections(drop: str | None, yes: bool, as_json: bool, store: Path | None) -> None:
    """List the store's collections with their count of documents, or --drop NAME --yes one of them."""
    from retrieval.catalog import drop_collection, list_collections

    if drop is None:
        settings = load_settings(store=store)
        with where_the_store_was_looked_for(settings):
            counts = list_collections(settings.engine_config().location)
        if as_json:
            click.echo(json.dumps(counts))
            return
        for name, count in counts.items():
            click.echo(safe(f"{name}: {_documents(count)}"))
        if not counts:
            click.echo("No collections yet: `citebot ingest FOLDER` makes one.")
        return
    from retrieval.store.names import check_collection_name

    check_collection_name(drop)
    if not yes:
        raise BadInput(f"Dropping {drop!r} deletes its index for good: add --yes to confirm")
    settings = load_settings(store=store, collection=drop)
    engine_to_read(settings)  # a store and a collection that exist, or the usual error naming them
    count = drop_collection(settings.engine_config().location)
    click.echo(safe(f"Dropped the collection {drop} ({_documents(count)})."))


def _documents(count: int) -> str:
    return f"{count} document{'s' if count != 1 else ''}"
