"""`citebot slack` starting: settings and tokens checked, Slack reachable, the feedback database usable."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from tests.bot.slack.harness import (
    APP_TOKEN,
    BOT_TOKEN,
    slack_env,
)
from tests.conftest import SEED_FILE
from tests.helpers.slack_standin import SlackStandIn

# Each test stops every server, socket client and listener pool it started (conftest.py).
pytestmark = pytest.mark.usefixtures("no_leftover_threads")


def test_cli_refuses_missing_or_malformed_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`citebot slack` exits 2 naming the variable for: no SLACK_BOT_TOKEN, SLACK_BOT_TOKEN=bad, a token with
    a space, no SLACK_APP_TOKEN, an xoxb- app token, --http without SLACK_SIGNING_SECRET, a non-http API URL,
    CITEBOT_SLACK_RATE_LIMIT=0."""
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"):
        monkeypatch.delenv(name, raising=False)
    good = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN}
    malformed_bot = (
        "Error: SLACK_BOT_TOKEN is malformed: it should start with 'xoxb-' and contain no spaces\n"
    )
    cases = [
        (
            {},
            [],
            "Error: SLACK_BOT_TOKEN is not set: export SLACK_BOT_TOKEN=xoxb-..."
            " (see the README's Slack section)\n",
        ),
        ({"SLACK_BOT_TOKEN": "bad"}, [], malformed_bot),
        ({"SLACK_BOT_TOKEN": "xoxb-12 34"}, ["--http"], malformed_bot),
        (
            {"SLACK_BOT_TOKEN": BOT_TOKEN},
            [],
            "Error: SLACK_APP_TOKEN is not set: export SLACK_APP_TOKEN=xapp-..."
            " (see the README's Slack section)\n",
        ),
        (
            {**good, "SLACK_APP_TOKEN": "xoxb-wrong-kind"},
            [],
            "Error: SLACK_APP_TOKEN is malformed: it should start with 'xapp-' and contain no spaces\n",
        ),
        (
            good,
            ["--http"],
            "Error: SLACK_SIGNING_SECRET is not set: HTTP mode needs the app's signing secret\n",
        ),
        (
            {**good, "CITEBOT_SLACK_API_URL": "ftp://127.0.0.1/api/"},
            [],
            "Error: CITEBOT_SLACK_API_URL must be an http(s) URL, not 'ftp://127.0.0.1/api/'\n",
        ),
        (
            {**good, "CITEBOT_SLACK_RATE_LIMIT": "0"},
            [],
            "Error: Invalid Slack setting: CITEBOT_SLACK_RATE_LIMIT:"
            " Input should be greater than or equal to 1\n",
        ),
    ]
    for env, options, message in cases:
        result = CliRunner().invoke(cli, ["slack", *options, "--store", str(tmp_path / "store")], env=env)
        assert (result.exit_code, result.output) == (2, message), env
    assert not (tmp_path / "store").exists()


@pytest.mark.parametrize(
    ("token", "error", "options", "message"),
    [
        (APP_TOKEN, "invalid_auth", [], "Error: Slack refused the app token (invalid_auth)\n"),
        (BOT_TOKEN, "token_revoked", [], "Error: Slack refused the bot token (token_revoked)\n"),
        (BOT_TOKEN, "invalid_auth", ["--http"], "Error: Slack refused the bot token (invalid_auth)\n"),
    ],
)
def test_cli_refused_token_is_one_error_line(
    slack: SlackStandIn, tmp_path: Path, token: str, error: str, options: list[str], message: str
) -> None:
    """Bad input: well-formed tokens Slack refuses (a revoked app token, a revoked bot token in Socket Mode
    and in HTTP mode): one Error line, exit 1, never "listening", no store created."""
    slack.refuse(token, error)
    args = ["slack", *options, "--store", str(tmp_path / "store")]
    result = CliRunner().invoke(cli, args, env=slack_env(slack))
    assert (result.exit_code, result.output) == (1, message)
    assert not (tmp_path / "store").exists()


def test_cli_unreachable_slack_is_one_error_line_without_the_password(tmp_path: Path) -> None:
    """Bad input: CITEBOT_SLACK_API_URL with a password, at a loopback port where nothing listens."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
        port = closed.getsockname()[1]
        url = f"http://citebot:hunter2@127.0.0.1:{port}/api/"
        env = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN, "CITEBOT_SLACK_API_URL": url}
        result = CliRunner().invoke(cli, ["slack", "--store", str(tmp_path / "store")], env=env)
    expected = f"Error: Cannot reach Slack at http://citebot:***@127.0.0.1:{port}/api/\n"
    assert (result.exit_code, result.output) == (1, expected)


def unusable_feedback_db(tmp_path: Path, kind: str) -> Path:
    """A CITEBOT_SLACK_FEEDBACK_DB path citebot cannot use, of one kind."""
    path = tmp_path / "feedback.sqlite3"
    if kind == "garbage":
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    elif kind == "foreign":
        other = sqlite3.connect(path)
        other.execute("CREATE TABLE answers (id TEXT PRIMARY KEY, body TEXT)")
        other.commit()
        other.close()
    elif kind == "stranger":
        other = sqlite3.connect(path)
        other.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        other.commit()
        other.close()
    elif kind == "folder":
        path.mkdir()
    else:
        (tmp_path / "blocker").write_text("a file where a folder must be\n", encoding="utf-8")
        path = tmp_path / "blocker" / "feedback.sqlite3"
    return path


FEEDBACK_ERRORS = {
    "garbage": (1, "Error: The feedback database {path} cannot be used: file is not a database\n"),
    "foreign": (1, "Error: The feedback database {path} cannot be used: no such column: question\n"),
    "stranger": (
        1,
        "Error: The feedback database {path} cannot be used: it has tables citebot never made (users)\n",
    ),
    "folder": (
        2,
        "Error: The feedback database {path} is a folder; set CITEBOT_SLACK_FEEDBACK_DB to a file path\n",
    ),
    "blocked": (
        2,
        "Error: Cannot create the folder for the feedback database {path}: a file is in the way\n",
    ),
}


@pytest.mark.parametrize("kind", ["garbage", "foreign", "stranger", "folder", "blocked"])
def test_slack_refuses_an_unusable_feedback_database(slack: SlackStandIn, tmp_path: Path, kind: str) -> None:
    """Bad input for `citebot slack`: CITEBOT_SLACK_FEEDBACK_DB holding garbage bytes, an SQLite file whose
    answers table has other columns, another program's SQLite file, a folder, a path under a file. One
    Error line naming the file, exit 1 for a file citebot cannot read (the setting is fine, the file is
    not) and 2 for a path that cannot hold one (the setting is wrong); never "listening", and the file is
    left byte for byte as it was."""
    path = unusable_feedback_db(tmp_path, kind)
    before = path.read_bytes() if path.is_file() else None
    ingested = CliRunner().invoke(cli, ["ingest", "--store", str(tmp_path / "store"), str(SEED_FILE)])
    assert ingested.exit_code == 0, ingested.output
    args = ["slack", "--store", str(tmp_path / "store")]
    result = CliRunner().invoke(cli, args, env=slack_env(slack, CITEBOT_SLACK_FEEDBACK_DB=str(path)))
    code, message = FEEDBACK_ERRORS[kind]
    assert (result.exit_code, result.output) == (code, message.format(path=path))
    assert (path.read_bytes() if path.is_file() else None) == before


@pytest.mark.parametrize("kind", ["garbage", "foreign", "stranger", "folder"])
def test_feedback_listing_refuses_an_unusable_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """Bad input for `citebot feedback`: the same garbage and foreign files and the folder; one Error
    line naming the file, with the same exit codes as `citebot slack`."""
    path = unusable_feedback_db(tmp_path, kind)
    monkeypatch.setenv("CITEBOT_SLACK_FEEDBACK_DB", str(path))
    result = CliRunner().invoke(cli, ["feedback", "--store", str(tmp_path / "store")])
    code, message = FEEDBACK_ERRORS[kind]
    assert (result.exit_code, result.output) == (code, message.format(path=path))
