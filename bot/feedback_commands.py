"""`citebot feedback`: the helpful / not helpful votes given in Slack."""

from __future__ import annotations

from pathlib import Path

import click

from bot.engines import load_settings
from bot.errors import BadInput, doors
from bot.options import store_option
from bot.render import json_line
from retrieval.store.layout import StoreLayout


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines.")
@store_option
@doors
def feedback(as_json: bool, store: Path | None) -> None:
    """List the helpful / not helpful votes given in Slack, newest first."""
    from bot.render import safe
    from bot.slack.feedback import FeedbackError, FeedbackPathError, FeedbackStore
    from bot.slack.settings import read_slack_settings

    settings = load_settings(store=store)
    path = read_slack_settings().feedback_db or StoreLayout(settings.store).feedback
    if not path.exists():
        click.echo("No feedback yet.")
        return
    try:
        votes = FeedbackStore(path).votes()
    except FeedbackPathError as exc:
        raise BadInput(str(exc)) from exc
    except FeedbackError as exc:
        raise click.ClickException(str(exc)) from exc
    for vote in votes:
        if as_json:
            click.echo(json_line(vote))
        else:
            who = f"{vote['user']} in {vote['channel']}"
            click.echo(safe(f"{vote['time']}  {vote['vote']:<12} {who}: {vote['question']}"))
            click.echo(safe(f"    {vote['answer'][:150]}  [{', '.join(vote['citations'])}]"))
    if not votes and not as_json:
        click.echo("No feedback yet.")
