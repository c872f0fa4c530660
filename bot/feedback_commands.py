"""`citebot feedback`: the votes given in Slack and the ranking adjustments they make."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from bot.engines import feedback_db, load_settings
from bot.errors import BadInput, doors
from bot.options import collection_option, store_option
from bot.render import json_line

if TYPE_CHECKING:
    from bot.slack.feedback import FeedbackStore
    from retrieval.search.feedback_boost import Vote

NO_FEEDBACK = "No feedback yet."
NOTHING_TO_RESET = "No ranking adjustments to reset{where}."
WOULD_RESET = (
    "This would reset {documents} ranking adjustments ({targets} votes on cited documents){where}; "
    "the votes stay listed. Add --yes to reset them."
)
RESET = "Reset {documents} ranking adjustments ({targets} votes on cited documents){where}."


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines.")
@click.option(
    "--adjustments", is_flag=True, help="Only the standing ranking adjustments (with --json: as JSON lines)."
)
@click.option("--reset", is_flag=True, help="Reset the ranking adjustments (needs --yes); votes stay listed.")
@click.option("--yes", is_flag=True, help="Confirm --reset.")
@collection_option
@store_option
@doors
def feedback(
    as_json: bool, adjustments: bool, reset: bool, yes: bool, collection: str | None, store: Path | None
) -> None:
    """List the helpful / not helpful votes given in Slack (newest first) and the ranking adjustments they
    make: per collection and document, the voters for and against and the most a score moves (for a
    question like the voted ones; within 0.04 of a fused score in [0, 1], so only near-ties reorder)."""
    if collection is not None and not reset:
        raise BadInput("--collection only narrows --reset (the listing shows every collection)")
    if yes and not reset:
        raise BadInput("--yes confirms --reset; nothing else asks for it")
    settings = load_settings(store=store)
    path = feedback_db(settings, strict=True)
    if not path.exists():
        click.echo(NOTHING_TO_RESET.format(where="") if reset else NO_FEEDBACK)
        return
    db = _open(path)
    try:
        if reset:
            _reset(db, collection, yes)
        else:
            _list(db, as_json, adjustments)
    finally:
        db.close()


def _open(path: Path) -> FeedbackStore:
    from bot.slack.feedback import FeedbackError, FeedbackPathError, FeedbackStore

    try:
        return FeedbackStore(path)
    except FeedbackPathError as exc:
        raise BadInput(str(exc)) from exc
    except FeedbackError as exc:
        raise click.ClickException(str(exc)) from exc


def _votes(db: FeedbackStore, collection: str | None = None) -> list[Vote]:
    from bot.slack.feedback import FeedbackError

    try:
        votes = db.ranking_votes()
    except FeedbackError as exc:
        raise click.ClickException(str(exc)) from exc
    return [v for v in votes if collection in (None, v.collection)]


def _standing(db: FeedbackStore, collection: str | None = None) -> list[dict[str, Any]]:
    from retrieval.search.feedback_boost import standing_adjustments

    return standing_adjustments(_votes(db, collection))


def _list(db: FeedbackStore, as_json: bool, only_adjustments: bool) -> None:
    from bot.render import safe
    from bot.slack.feedback import FeedbackError

    try:
        votes = [] if only_adjustments else db.votes()
    except FeedbackError as exc:
        raise click.ClickException(str(exc)) from exc
    rows = _standing(db) if only_adjustments or not as_json else []
    if as_json:  # the votes' lines as ever; --adjustments: the adjustments' lines instead
        for line in votes or rows:
            click.echo(json_line(line))
        return
    for vote in votes:
        who = f"{vote['user']} in {vote['channel']}"
        click.echo(safe(f"{vote['time']}  {vote['vote']:<12} {who}: {vote['question']}"))
        click.echo(safe(f"    {vote['answer'][:150]}  [{', '.join(vote['citations'])}]"))
    if not votes and not rows:
        click.echo(NO_FEEDBACK)
        return
    if rows:
        if votes:
            click.echo("")
        click.echo("Ranking adjustments (collection  document  helpful/not helpful  net  at most):")
        for row in rows:
            click.echo(
                safe(
                    f"  {row['collection']}  {row['document']}  {row['helpful']}/{row['not_helpful']}  "
                    f"net {row['net']:+d}  {row['adjustment']:+.4f}"
                )
            )


def _reset(db: FeedbackStore, collection: str | None, yes: bool) -> None:
    from retrieval.search.feedback_boost import standing_adjustments

    votes = _votes(db, collection)
    rows = standing_adjustments(votes)
    where = f" in collection {collection}" if collection else ""
    if not rows:
        click.echo(NOTHING_TO_RESET.format(where=where))
        return
    targets = len(votes)
    if not yes:
        raise BadInput(WOULD_RESET.format(documents=len(rows), targets=targets, where=where))
    db.reset_adjustments(collection)
    click.echo(RESET.format(documents=len(rows), targets=targets, where=where))
