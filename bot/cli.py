"""The `citebot` command: builds Settings once, passes them down, turns errors into messages, exit codes."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import asdict
from functools import wraps
from pathlib import Path
from typing import IO, Any, TypeVar

import click

from bot.ingest_report import ensure_ingested, run_ingest
from bot.settings import Settings, SettingsError, load_settings
from retrieval.errors import CitebotError, InputError, NotFoundError

F = TypeVar("F", bound=Callable[..., Any])


class BadInput(click.ClickException):
    """Bad input from the user: `Error: ...` and exit code 2."""

    exit_code = 2


def doors(func: F) -> F:
    """Translate the engine's errors in one place: bad input exits 2, anything else 1, never a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (InputError, NotFoundError, SettingsError) as exc:
            raise BadInput(str(exc)) from exc
        except CitebotError as exc:
            raise click.ClickException(str(exc)) from exc

    return wrapper  # type: ignore[return-value]


store_option = click.option(
    "--store",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Store folder (default .citebot, or CITEBOT_STORE).",
)


def engine_for(settings: Settings, create: bool = True) -> Any:
    """The engine for these settings (imported here so `citebot --help` stays fast)."""
    from retrieval.engine import Engine

    return Engine(settings.engine_config(), create=create)


@click.group(invoke_without_command=True)
@click.version_option(package_name="citebot")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Ask questions about your documents; every answer cites the exact passage it comes from."""
    if ctx.invoked_subcommand is None:
        if sys.stdin.isatty() and sys.stdout.isatty():
            ctx.invoke(repl)
        else:
            click.echo(ctx.get_help())


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@store_option
@doors
def ingest(paths: tuple[Path, ...], as_json: bool, store: Path | None) -> None:
    """Index .txt and .md files under PATHS (default: the seeds folder); only what changed is embedded."""
    settings = load_settings(store=store)
    code = run_ingest(engine_for(settings), list(paths) or [settings.corpus], as_json)
    sys.exit(code)


def _batch_lines(handle: IO[str], engine: Any) -> Iterator[tuple[dict[str, Any], bool]]:
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        item_id: Any = None
        try:
            item = json.loads(line)
            if not isinstance(item, dict):
                raise InputError('each line must be a JSON object {"id", "question"}')
            item_id = item.get("id")
            question = item.get("question")
            if not isinstance(question, str):
                raise InputError('the line has no "question" string')
            yield {"id": item_id, **engine.ask(question).model_dump()}, True
        except (ValueError, InputError) as exc:
            yield {"id": item_id, "line": number, "error": str(exc)}, False


@cli.command()
@click.argument("question", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the answer as one JSON object.")
@click.option("--k", type=click.IntRange(1, 50), default=None, help="Passages to retrieve (default 5).")
@click.option(
    "--batch",
    type=click.File("r", encoding="utf-8"),
    default=None,
    help='Read JSON lines {"id", "question"} from FILE (- for stdin); write one JSON line each.',
)
@store_option
@doors
def ask(
    question: str | None, as_json: bool, k: int | None, batch: IO[str] | None, store: Path | None
) -> None:
    """Answer QUESTION from the indexed documents, with citations."""
    if batch is None and (question is None or not question.strip()):
        raise InputError('The question is empty: citebot ask "What did the US offer in Stockholm?"')
    settings = load_settings(store=store, k=k)
    engine = engine_for(settings)
    ensure_ingested(engine, settings)
    if batch is not None:
        ok = True
        for result, good in _batch_lines(batch, engine):
            ok = ok and good
            click.echo(json.dumps(result, ensure_ascii=False))
        sys.exit(0 if ok else 1)
    from bot.render import answer_text

    answer = engine.ask(question or "")
    click.echo(json.dumps(answer.model_dump(), ensure_ascii=False) if as_json else answer_text(answer))


@cli.command()
@click.argument("citation")
@click.option("--json", "as_json", is_flag=True, help="Print the passage as one JSON object.")
@store_option
@doors
def cite(citation: str, as_json: bool, store: Path | None) -> None:
    """Show the passage a CITATION id points to, with the lines around it."""
    from bot.render import cited_text

    cited = engine_for(load_settings(store=store), create=False).cite(citation)
    click.echo(json.dumps(asdict(cited), ensure_ascii=False) if as_json else cited_text(cited))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the status as one JSON object.")
@store_option
@doors
def status(as_json: bool, store: Path | None) -> None:
    """Show the store, what is indexed, the model and the last ingest."""
    from bot.render import status_text

    info = engine_for(load_settings(store=store), create=False).status()
    click.echo(json.dumps(info) if as_json else status_text(info))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print answers as JSON lines.")
@click.option("--k", type=click.IntRange(1, 50), default=None, help="Passages to retrieve (default 5).")
@store_option
@doors
def repl(as_json: bool = False, k: int | None = None, store: Path | None = None) -> None:
    """Ask questions one after another (follow-ups, :cite, :sources...); reads lines when piped."""
    from bot import repl as loop

    settings = load_settings(store=store, k=k)
    engine = engine_for(settings)
    ensure_ingested(engine, settings)
    loop.run(engine, settings, as_json)


@cli.command()
@click.option("--http", "use_http", is_flag=True, help="Serve signed HTTP requests instead of Socket Mode.")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=3000, show_default=True, help="HTTP mode port."
)
@click.option("--host", default="0.0.0.0", show_default=True, help="HTTP mode address.")
@store_option
@doors
def slack(use_http: bool, port: int, host: str, store: Path | None) -> None:
    """Run the Slack bot: Socket Mode (SLACK_BOT_TOKEN, SLACK_APP_TOKEN) or --http (SLACK_SIGNING_SECRET)."""
    import logging

    from bot.slack.app import build_app
    from bot.slack.feedback import FeedbackError, FeedbackPathError, FeedbackStore
    from bot.slack.logs import redact_logs
    from bot.slack.settings import load_slack_settings
    from bot.slack.tokens import BOT_REFUSED, SlackRefused, check_tokens, refusal
    from bot.slack.transports import run_http, run_socket_mode

    slack_settings = load_slack_settings(http=use_http)
    settings = load_settings(store=store)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    redact_logs([*slack_settings.secrets, settings.llm_api_key])
    try:  # before the slow start-up, and before saying "listening"
        check_tokens(slack_settings, http=use_http)
    except SlackRefused as exc:
        raise click.ClickException(str(exc)) from exc
    engine = engine_for(settings)  # first: it refuses a store folder that holds anything but a store
    try:
        feedback = FeedbackStore(slack_settings.feedback_db or settings.store / "feedback.sqlite3")
    except FeedbackPathError as exc:
        raise BadInput(str(exc)) from exc
    except FeedbackError as exc:
        raise click.ClickException(str(exc)) from exc
    ensure_ingested(engine, settings)
    engine.chain()
    engine.embedder.embed_query("warm up")
    try:
        app = build_app(engine, slack_settings, feedback, http=use_http)
    except Exception as exc:  # bolt's BoltError when auth.test fails: the token was revoked since the check
        raise click.ClickException(refusal(exc, BOT_REFUSED, slack_settings)) from exc
    click.echo(
        f"citebot is listening ({'HTTP on ' + host + ':' + str(port) if use_http else 'Socket Mode'}).",
        err=True,
    )
    if use_http:
        run_http(app, host, port)
    else:
        run_socket_mode(app, slack_settings.app_token)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines.")
@store_option
@doors
def feedback(as_json: bool, store: Path | None) -> None:
    """List the helpful / not helpful votes given in Slack, newest first."""
    from bot.slack.feedback import FeedbackError, FeedbackPathError, FeedbackStore
    from bot.slack.settings import SlackSettings

    settings = load_settings(store=store)
    path = SlackSettings().feedback_db or settings.store / "feedback.sqlite3"
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
            click.echo(json.dumps(vote, ensure_ascii=False))
        else:
            click.echo(
                f"{vote['time']}  {vote['vote']:<12} {vote['user']} in {vote['channel']}: {vote['question']}"
            )
            click.echo(f"    {vote['answer'][:150]}  [{', '.join(vote['citations'])}]")
    if not votes and not as_json:
        click.echo("No feedback yet.")


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="citebot")
