"""The CITEBOT_SLACK_SCOPES file: read, refused as FILE:LINE, kept current by LiveScopes and `citebot slack`.

Bad input tried: malformed TOML (a bare word for a list); an unknown top-level key and an unknown table;
`channels` as a list; channel ids that are not ones (`general`, a quoted `#hr`, lowercase `c0hr`); an
unknown collection (in a channel, in `default`, in a list spread over lines, under a dotted key
`channels.C0HR`); collection names with `/` and `..` (`hr/../x`, `..`, `../etc`); an empty scope `[]` (in a
channel and as `default`); a string and a list of numbers for a scope; a missing file; a folder; bytes that
are not UTF-8; a running bot's file changed to a bad one, and deleted; a same-size rewrite keeping the mtime
(seen only after SIGHUP); `citebot slack` started on a malformed file, on one naming an unknown collection, on
a missing one, and on a malformed one with a store folder not made yet.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.errors import BadInput
from bot.slack.logs import RedactSecrets
from bot.slack.scopes import LiveScopes, ScopeFileError, ScopeMap, channel_scopes, parse_scopes, read_scopes
from retrieval.engine import Engine
from retrieval.inference.embedder import Embedder
from tests.conftest import SEED_FILE, make_engine
from tests.helpers.slack_standin import SlackStandIn

KNOWN = {"citebot", "hr"}
VALID = """\
# Who may read what
default = ["citebot"]

[channels]
C0HR = ["hr", "citebot", "hr"]
"G0PRIV" = ["hr"]
"""


@pytest.fixture(autouse=True)
def secrets_masking_undone() -> Iterator[None]:
    """`citebot slack` masks secrets on the root logger's handlers, for the rest of its process; run in
    this one, the masking (which drops a record's exc_info) would outlive the test, so it is taken off."""
    yield
    for handler in logging.getLogger().handlers:
        for masking in [f for f in handler.filters if isinstance(f, RedactSecrets)]:
            handler.removeFilter(masking)


def scopes_file(tmp_path: Path, text: str) -> Path:
    """A scopes file holding text."""
    path = tmp_path / "scopes.toml"
    path.write_text(text, encoding="utf-8")
    return path


def refusal(path: Path, known: set[str] = KNOWN) -> str:
    """The message read_scopes refuses the file with (fails the test if it is accepted)."""
    with pytest.raises(ScopeFileError) as caught:
        read_scopes(path, "citebot", known)
    return str(caught.value)


def test_a_valid_file_maps_channels_and_leaves_the_rest_to_default(tmp_path: Path) -> None:
    """Mapped channels (a bare and a quoted key) get their list, duplicates dropped in order; others get
    `default`, and so does a DM and a question with no channel."""
    scopes = read_scopes(scopes_file(tmp_path, VALID), "fallback", KNOWN)
    assert scopes == ScopeMap(("citebot",), {"C0HR": ("hr", "citebot"), "G0PRIV": ("hr",)})
    assert [scopes.for_channel(c) for c in ("C0HR", "G0PRIV", "C1", "D1", None)] == [
        ("hr", "citebot"),
        ("hr",),
        ("citebot",),
        ("citebot",),
        ("citebot",),
    ]
    assert scopes.collections() == KNOWN


def test_default_omitted_is_the_fallback_collection(tmp_path: Path) -> None:
    """Without `default`, unlisted channels use the collection the bot was started on (--collection)."""
    path = scopes_file(tmp_path, '[channels]\nC0HR = ["hr"]\n')
    scopes = read_scopes(path, "hr", {"hr"})
    assert scopes.default == ("hr",) and scopes.for_channel("C1") == ("hr",)
    assert parse_scopes("", path, "citebot") == ScopeMap(("citebot",), {})


# (file text, the line the error names, words the error says)
BAD_FILES = {
    "malformed TOML": ('default = ["citebot"]\n[channels]\nC0HR = hr\n', 3, "not valid TOML"),
    "unknown key": ('# scopes\ndefaults = ["citebot"]\n', 2, "unknown key 'defaults'"),
    "unknown table": ('default = ["citebot"]\n\n[extra]\nx = 1\n', 3, "unknown key 'extra'"),
    "channels not a table": ('default = ["citebot"]\nchannels = ["C0HR"]\n', 2, "channels must be a table"),
    "not a channel id": (
        '[channels]\nC0HR = ["hr"]\ngeneral = ["hr"]\n',
        3,
        "'general' is not a Slack channel id",
    ),
    "quoted #hr": ('[channels]\nC0HR = ["hr"]\n"#hr" = ["hr"]\n', 3, "'#hr' is not a Slack channel id"),
    "lowercase id": ('\n[channels]\nc0hr = ["hr"]\n', 3, "'c0hr' is not a Slack channel id"),
    "unknown collection": (
        '[channels]\nC0HR = ["hr", "citebot"]\nC0FIN = ["finance"]\n',
        3,
        "unknown collection 'finance' (the store holds: citebot, hr; "
        "`citebot ingest --collection finance PATH` creates it)",
    ),
    "unknown default": ('\n\ndefault = ["general"]\n', 3, "unknown collection 'general'"),
    "unknown, spread": ('[channels]\nC0A = ["hr"]\nC0HR = [\n  "hr",\n  "nope",\n]\n', 3, "'nope'"),
    "unknown, dotted key": ('default = ["citebot"]\n\nchannels.C0HR = ["nope"]\n', 3, "'nope'"),
    "slash": ('[channels]\nC0A = ["hr"]\nC0HR = ["hr/../x"]\n', 3, "Invalid collection name 'hr/../x'"),
    "dot dot": ('[channels]\nC0HR = [".."]\n', 2, "Invalid collection name '..'"),
    "dot dot default": ('# x\ndefault = ["../etc"]\n', 2, "Invalid collection name '../etc'"),
    "empty scope": ('[channels]\nC0A = ["hr"]\nC0HR = []\n', 3, "channel C0HR is empty"),
    "empty default": ('default = []\n[channels]\nC0HR = ["hr"]\n', 1, "default is empty"),
    "a string": ('[channels]\nC0HR = "hr"\n', 2, 'channel C0HR must be a list of collection names, like ["'),
    "numbers": ("[channels]\nC0HR = [1, 2]\n", 2, "channel C0HR must be a list of collection names"),
    "default a string": ('default = "citebot"\n', 1, "default must be a list of collection names"),
}


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_a_bad_file_is_refused_with_its_name_and_line(tmp_path: Path, kind: str) -> None:
    """Each bad file: one message, FILE:LINE: what is wrong, the line the one at fault."""
    text, line, says = BAD_FILES[kind]
    path = scopes_file(tmp_path, text)
    message = refusal(path)
    assert message.startswith(f"{path}:{line}: "), message
    assert says in message


def test_a_missing_unreadable_or_binary_file_is_named(tmp_path: Path) -> None:
    """A path where no file is, a folder, and bytes that are not UTF-8: FILE: why, never a traceback's."""
    missing = tmp_path / "nowhere.toml"
    assert refusal(missing) == f"{missing}: no such scopes file (CITEBOT_SLACK_SCOPES names it)"
    folder = tmp_path / "folder.toml"
    folder.mkdir()
    assert refusal(folder).startswith(f"{folder}: cannot be read (")
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b'default = ["\xff\xfe"]\n')
    assert refusal(binary).startswith(f"{binary}: cannot be read (")


def fake_engine(collection: str = "citebot") -> SimpleNamespace:
    """What channel_scopes reads of an engine: its collection and the collections its store holds."""
    location = SimpleNamespace(collection=collection)
    return SimpleNamespace(
        config=SimpleNamespace(location=location), store=SimpleNamespace(collections=lambda: KNOWN)
    )


def rewrite(path: Path, text: str) -> None:
    """Replace the file's text, its stamp moved on so a change is seen even within one clock tick."""
    before = path.stat().st_mtime_ns
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(before + 1_000_000, before + 1_000_000))


def test_live_scopes_follow_the_file_and_keep_the_last_good_map(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A changed file is read before the next question; a bad change, and a deleted file, keep the scopes in
    force and log an error naming FILE:LINE; a good change after a bad one is read again."""
    path = scopes_file(tmp_path, VALID)
    live = LiveScopes(path, "citebot", lambda: KNOWN)
    assert live.current().for_channel("C0HR") == ("hr", "citebot")
    rewrite(path, '[channels]\nC0HR = ["citebot"]\nC0NEW = ["hr"]\n')
    assert live.current() == ScopeMap(("citebot",), {"C0HR": ("citebot",), "C0NEW": ("hr",)})
    good = live.current()
    caplog.set_level(logging.INFO, logger="citebot.slack")
    rewrite(path, '[channels]\nC0HR = ["citebot"]\nC0NEW = ["hr", "finance"]\n')
    assert live.current() is good
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == [
        f"scopes file not re-read, the previous scopes stay in force: {path}:3: unknown collection 'finance'"
        " (the store holds: citebot, hr; `citebot ingest --collection finance PATH` creates it)"
    ]
    assert live.current() is good  # the bad file is not read (and logged) again before each question
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 1
    rewrite(path, 'default = ["hr"]\n')
    assert live.current() == ScopeMap(("hr",), {})
    path.unlink()
    assert live.current() == ScopeMap(("hr",), {})
    assert "no such scopes file" in caplog.records[-1].getMessage()


def test_request_reread_reads_a_change_the_stamp_does_not_show(tmp_path: Path) -> None:
    """A rewrite of the same size with the old mtime (as `cp -p` or a restore leaves it) is read once
    request_reread (SIGHUP's handler) was called."""
    path = scopes_file(tmp_path, '[channels]\nC0HR = ["hr", "citebot"]\n')
    stamp = path.stat()
    live = LiveScopes(path, "citebot", lambda: KNOWN)
    narrowed = '[channels]\nC0HR = ["citebot"]      \n'
    assert len(narrowed) == stamp.st_size
    path.write_text(narrowed, encoding="utf-8")
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    live.request_reread()
    assert live.current().for_channel("C0HR") == ("citebot",)


def test_no_file_means_one_scope_for_every_channel() -> None:
    """Without CITEBOT_SLACK_SCOPES every channel and DM is answered from the bot's own collection."""
    live = channel_scopes(fake_engine("hr"), None)
    assert [live.current().for_channel(c) for c in ("C0HR", "C1", "D1")] == [("hr",)] * 3


def test_channel_scopes_refuses_a_bad_file_and_rereads_on_sighup(tmp_path: Path) -> None:
    """At start a bad file is bad input (exit 2); with a good one, a real SIGHUP makes the next question
    read a change the stamp does not show."""
    path = scopes_file(tmp_path, '[channels]\nC0HR = ["hr", "nope"]\n')
    with pytest.raises(BadInput) as caught:
        channel_scopes(fake_engine(), path)
    assert caught.value.exit_code == 2 and caught.value.message.startswith(f"{path}:2: unknown collection")
    previous = signal.getsignal(signal.SIGHUP)
    try:
        path.write_text('[channels]\nC0HR = ["hr", "citebot"]\n', encoding="utf-8")
        stamp = path.stat()
        live = channel_scopes(fake_engine(), path)
        assert live.current().for_channel("C0HR") == ("hr", "citebot")
        path.write_text('[channels]\nC0HR = ["citebot"]      \n', encoding="utf-8")
        os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
        os.kill(os.getpid(), signal.SIGHUP)
        assert live.current().for_channel("C0HR") == ("citebot",)
    finally:
        signal.signal(signal.SIGHUP, previous)


@pytest.fixture(scope="module")
def two_collection_store(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Path:
    """A store folder holding `citebot` (the seed editorial) and `hr` (one pay note)."""
    root = tmp_path_factory.mktemp("scopes-cli")
    (root / "general").mkdir()
    shutil.copy(SEED_FILE, root / "general" / SEED_FILE.name)
    (root / "hr").mkdir()
    (root / "hr" / "pay.md").write_text("# Pay\n\nThe senior band is 91,500 zorkmids.\n", encoding="utf-8")
    general = make_engine(root / "store", embedder)
    general.ingest([root / "general"])
    location = replace(general.config.location, collection="hr")
    Engine(replace(general.config, location=location), embedder=embedder).ingest([root / "hr"])
    return root / "store"


CLI_FILES = {
    "malformed": ('default = ["citebot"]\n[channels]\nC0HR = ["hr" "citebot"]\n', ":3: not valid TOML ("),
    "unknown": ('[channels]\nC0HR = ["hr"]\nC0FIN = ["finance"]\n', ":3: unknown collection 'finance' ("),
    "missing": (None, ": no such scopes file (CITEBOT_SLACK_SCOPES names it)"),
}


@pytest.mark.parametrize("kind", list(CLI_FILES))
def test_citebot_slack_stops_on_a_bad_scopes_file(
    two_collection_store: Path, tmp_path: Path, kind: str
) -> None:
    """`citebot slack` with CITEBOT_SLACK_SCOPES naming a malformed file, one naming an unknown collection, or
    no file: one `Error: FILE:LINE: ...` line, exit 2, no traceback, never "listening"."""
    text, says = CLI_FILES[kind]
    path = scopes_file(tmp_path, text) if text is not None else tmp_path / "absent.toml"
    env = {"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_APP_TOKEN": "xapp-test", "CITEBOT_SLACK_SCOPES": str(path)}
    with SlackStandIn() as slack:
        env["CITEBOT_SLACK_API_URL"] = slack.api_url
        result = CliRunner().invoke(cli, ["slack", "--store", str(two_collection_store)], env=env)
        assert [c.method for c in slack.calls] == ["auth.test", "apps.connections.open"]
    assert result.exit_code == 2, result.output
    (line,) = result.output.splitlines()
    assert line.startswith(f"Error: {path}{says}"), line
    assert "Traceback" not in result.output and "listening" not in result.output
    assert isinstance(result.exception, SystemExit)


def test_a_malformed_scopes_file_is_refused_before_a_store_is_made(tmp_path: Path) -> None:
    """A file that is not valid TOML needs no store to be refused: as for every other bad setting, no store
    is created (and no demo corpus ingested) before `citebot slack` exits 2 naming FILE:LINE."""
    path = scopes_file(tmp_path, "[channels]\nC0HR = hr\n")
    env = {"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_APP_TOKEN": "xapp-test", "CITEBOT_SLACK_SCOPES": str(path)}
    with SlackStandIn() as slack:
        env["CITEBOT_SLACK_API_URL"] = slack.api_url
        result = CliRunner().invoke(cli, ["slack", "--store", str(tmp_path / "store")], env=env)
    assert result.exit_code == 2, result.output
    assert result.output.endswith(f"Error: {path}:2: not valid TOML (Invalid value (at line 2, column 8))\n")
    assert "ingesting" not in result.output
    assert not (tmp_path / "store").exists()


TABLES = """\
default = ["citebot"]
[channels]
C0HR = ["hr"]
C0HELP = { collections = ["citebot"], mode = "questions", escalate_to = "C0PEOPLE" }

[channels.C0ALL]
collections = ["citebot", "hr"]
mode = "all"
escalate_to = "S0OWNERS"
"""


def test_the_table_form_gives_modes_and_escalations_beside_todays_form(tmp_path: Path) -> None:
    """Today's list form and both table forms (inline, [channels.ID]) in one file: lists stay mention-only
    with no hand-off; an unlisted channel and a DM too."""
    scopes = read_scopes(scopes_file(tmp_path, TABLES), "citebot", KNOWN)
    assert scopes.for_channel("C0ALL") == ("citebot", "hr")
    assert [scopes.mode_for(c) for c in ("C0HR", "C0HELP", "C0ALL", "C1", None)] == [
        "mention",
        "questions",
        "all",
        "mention",
        "mention",
    ]
    assert [scopes.escalation_for(c) for c in ("C0HR", "C0HELP", "C0ALL", "D1")] == [
        None,
        "C0PEOPLE",
        "S0OWNERS",
        None,
    ]


@pytest.mark.parametrize(
    ("entry", "line", "says"),
    [
        ('C0HELP = { collections = ["citebot"], mode = "sometimes" }', 4, "unknown mode 'sometimes'"),
        ('C0HELP = { collections = ["citebot"], mode = "Questions" }', 4, "unknown mode 'Questions'"),
        ('C0HELP = { collections = ["citebot"], escalate_to = "#people" }', 4, "escalate_to '#people'"),
        ('C0HELP = { collections = ["citebot"], escalate_to = "U0ALICE" }', 4, "escalate_to 'U0ALICE'"),
        ('C0HELP = { collections = ["citebot"], escalate_to = ["C0A"] }', 4, "escalate_to ['C0A']"),
        ('C0HELP = { collections = ["citebot"], moode = "all" }', 4, "unknown key 'moode'"),
        ('C0HELP = { mode = "all" }', 4, "collections is missing"),
        ('C0HELP = { collections = [], mode = "all" }', 4, "is empty"),
        ('C0HELP = { collections = ["nope"], mode = "all" }', 4, "unknown collection 'nope'"),
        ('[channels.C0HELP]\ncollections = ["citebot"]\nmode = "every"', 4, "unknown mode 'every'"),
    ],
)
def test_a_bad_table_entry_is_refused_at_its_line(tmp_path: Path, entry: str, line: int, says: str) -> None:
    """Bad input tried: an unknown mode (and one in the wrong case), escalation ids that are a channel name,
    a user id, a list; a misspelt key; no collections; an empty list; an unknown collection; a bad mode in a
    [channels.ID] table. Each is FILE:LINE: what is wrong."""
    text = f'default = ["citebot"]\n[channels]\nC0HR = ["hr"]\n{entry}\n'
    path = scopes_file(tmp_path, text)
    message = refusal(path)
    assert message.startswith(f"{path}:{line}: "), message
    assert says in message


def test_a_running_bot_picks_up_a_changed_mode(tmp_path: Path) -> None:
    """A file rewritten from today's form to a table form under a live map: the new mode and escalation
    are in force at the next look; a rewrite to an unknown mode keeps them (logged, not raised)."""
    path = scopes_file(tmp_path, '[channels]\nC0HELP = ["citebot"]\n')
    live = LiveScopes(path, "citebot", lambda: KNOWN)
    assert live.current().mode_for("C0HELP") == "mention"
    path.write_text('[channels]\nC0HELP = { collections = ["citebot"], mode = "all", escalate_to = "S0X" }\n')
    assert (live.current().mode_for("C0HELP"), live.current().escalation_for("C0HELP")) == ("all", "S0X")
    path.write_text('[channels]\nC0HELP = { collections = ["citebot"], mode = "always" }\n# longer now\n')
    assert live.current().mode_for("C0HELP") == "all"
