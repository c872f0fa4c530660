"""Which collections each Slack channel is answered from: the CITEBOT_SLACK_SCOPES file, kept current.

    default = ["general"]          # unlisted channels and direct messages
    [channels]
    C0HR = ["hr", "general"]       # mentions only
    C0HELP = { collections = ["general"], mode = "questions", escalate_to = "C0PEOPLE" }

A channel's `mode` says which messages it answers: "mention" (the default: mentions only), "questions"
(every message that asks something: conversation.is_question) or "all"; `escalate_to` (a channel id C...
or G..., or a user-group id S...) adds a "Get help from a person" button to its answers.

An invalid file is refused with its name and line. A running bot re-reads it when it changes (checked before
each question) or on SIGHUP; a change that does not read keeps the scopes in force and is logged.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import threading
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrieval.errors import InputError
from retrieval.store.names import check_collection_name

if TYPE_CHECKING:
    from retrieval.engine import Engine

log = logging.getLogger("citebot.slack")
# Slack's conversation ids: C (channel), G (private channel or group DM), D (direct message).
_CHANNEL_ID = re.compile(r"^[CDG][A-Z0-9]{2,}$")
_TOML_LINE = re.compile(r"at line (\d+)")
# Where a hand-off goes: a channel (C, or G for a private one) or a user group (S, mentioned as a subteam).
_ESCALATION_ID = re.compile(r"^[CGS][A-Z0-9]{2,}$")
MODES = ("mention", "questions", "all")
_TABLE_KEYS = ("collections", "mode", "escalate_to")


class ScopeFileError(Exception):
    """A scopes file that cannot be used, told as FILE:LINE: what is wrong."""


@dataclass(frozen=True)
class ScopeMap:
    """The collections searched in each channel; `default` for channels not listed and direct messages."""

    default: tuple[str, ...]
    channels: dict[str, tuple[str, ...]] = field(default_factory=dict)
    modes: dict[str, str] = field(default_factory=dict)  # channels answering more than mentions
    escalations: dict[str, str] = field(default_factory=dict)  # channel -> where "Get help" goes

    def for_channel(self, channel: str | None) -> tuple[str, ...]:
        """The collections a question asked in channel is answered from."""
        return self.channels.get(channel or "", self.default)

    def mode_for(self, channel: str | None) -> str:
        """Which messages of a channel are answered: "mention" (the default), "questions" or "all"."""
        return self.modes.get(channel or "", "mention")

    def escalation_for(self, channel: str | None) -> str | None:
        """Where "Get help from a person" goes (a channel or user-group id); None: no button."""
        return self.escalations.get(channel or "")

    def collections(self) -> set[str]:
        """Every collection the map names."""
        return set(self.default).union(*self.channels.values())


def _line_of(text: str, key: str) -> int:
    """The 1-based line where key is assigned (plain, dotted or in an inline table) or its table opens."""
    quoted = rf"[\"']?{re.escape(key)}[\"']?"
    header = re.compile(rf"^\s*\[\s*(channels\s*\.\s*)?{quoted}\s*\]")
    assigned = re.compile(rf"(^|[\s.{{,]){quoted}\s*=")
    for number, line in enumerate(text.splitlines(), start=1):
        if header.match(line) or assigned.search(line):
            return number
    return 1


def _names(value: Any, where: str) -> tuple[str, ...]:
    """A scope's list of collection names, checked (InputError says what is wrong)."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f'{where} must be a list of collection names, like ["general"]')
    if not value:
        raise InputError(f"{where} is empty: a scope needs at least one collection")
    return tuple(dict.fromkeys(check_collection_name(v) for v in value))


def _channel_entry(channel: str, value: Any) -> tuple[tuple[str, ...], str, str | None]:
    """A channel's (collections, mode, escalate_to): today's list form, or the table form (InputError)."""
    if not isinstance(value, dict):
        return _names(value, f"channel {channel}"), "mention", None
    unknown = sorted(set(value) - set(_TABLE_KEYS))
    if unknown:
        raise InputError(f"channel {channel}: unknown key {unknown[0]!r} (expected {', '.join(_TABLE_KEYS)})")
    if "collections" not in value:
        raise InputError(f'channel {channel}: collections is missing, like collections = ["general"]')
    names = _names(value["collections"], f"channel {channel}: collections")
    mode = value.get("mode", "mention")
    if mode not in MODES:
        expected = ", ".join(f'"{m}"' for m in MODES)
        raise InputError(f"channel {channel}: unknown mode {mode!r} (expected one of {expected})")
    target = value.get("escalate_to")
    if target is not None and not (isinstance(target, str) and _ESCALATION_ID.match(target)):
        like = "a channel id like C0123ABCD or a user-group id like S0123ABCD"
        raise InputError(f"channel {channel}: escalate_to {target!r} is not {like}")
    return names, mode, target


def parse_scopes(text: str, path: Path, fallback: str) -> ScopeMap:
    """The scope map a file's text describes (fallback: the default scope's one collection if unset)."""

    def error(line: int, message: str) -> ScopeFileError:
        return ScopeFileError(f"{path}:{line}: {message}")

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = _TOML_LINE.search(str(exc))
        raise error(int(found.group(1)) if found else 1, f"not valid TOML ({exc})") from exc
    unknown = sorted(set(data) - {"default", "channels"})
    if unknown:
        expected = "expected default and [channels]"
        raise error(_line_of(text, unknown[0]), f"unknown key {unknown[0]!r} ({expected})")
    try:
        default = _names(data["default"], "default") if "default" in data else (fallback,)
    except InputError as exc:
        raise error(_line_of(text, "default"), str(exc)) from exc
    table = data.get("channels", {})
    if not isinstance(table, dict):
        shape = "[channels] then CHANNEL_ID = [...]"
        raise error(_line_of(text, "channels"), f"channels must be a table: {shape}")
    channels: dict[str, tuple[str, ...]] = {}
    modes: dict[str, str] = {}
    escalations: dict[str, str] = {}
    for channel, value in table.items():
        line = _line_of(text, channel)
        if not _CHANNEL_ID.match(channel):
            like = "like C0123ABCD; a channel's details show it"
            raise error(line, f"{channel!r} is not a Slack channel id ({like})")
        try:
            channels[channel], mode, target = _channel_entry(channel, value)
        except InputError as exc:
            raise error(line, str(exc)) from exc
        if mode != "mention":
            modes[channel] = mode
        if target:
            escalations[channel] = target
    return ScopeMap(default, channels, modes, escalations)


def _read_text(path: Path) -> str:
    """A scopes file's text (ScopeFileError where it is missing or unreadable)."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ScopeFileError(f"{path}: no such scopes file (CITEBOT_SLACK_SCOPES names it)") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ScopeFileError(f"{path}: cannot be read ({exc})") from exc


def read_scopes(path: Path, fallback: str, known: Iterable[str]) -> ScopeMap:
    """The scope map in path, every collection it names checked against those the store holds."""
    text = _read_text(path)
    scopes = parse_scopes(text, path, fallback)
    held = set(known)
    for name in sorted(scopes.collections() - held):
        line = _line_of(text, "default") if name in scopes.default else 1
        for channel, names in scopes.channels.items():
            if name in names:
                line = _line_of(text, channel)
                break
        listed = ", ".join(sorted(held)) or "none yet"
        raise ScopeFileError(
            f"{path}:{line}: unknown collection {name!r} (the store holds: {listed}; "
            f"`citebot ingest --collection {name} PATH` creates it)"
        )
    return scopes


class LiveScopes:
    """The scope map in force: the file's, re-read when it changes or after SIGHUP (or a fixed one)."""

    def __init__(self, path: Path | None, fallback: str, known: Callable[[], Iterable[str]]) -> None:
        self.path = path
        self._fallback = fallback
        self._known = known
        self._stamp = self._stat()
        self._reread = False
        self._lock = threading.Lock()
        # At start an invalid file is an error (the caller exits 2); later ones only keep the old map.
        self.map = read_scopes(path, fallback, known()) if path else ScopeMap((fallback,))

    def _stat(self) -> tuple[int, ...] | None:
        try:
            info = os.stat(self.path) if self.path else None
        except OSError:
            return None
        # ctime and inode too: `cp -p` keeps the mtime, and an editor's save replaces the file.
        return (info.st_mtime_ns, info.st_ctime_ns, info.st_size, info.st_ino) if info else None

    def request_reread(self) -> None:
        """Re-read the file before the next question (SIGHUP's handler: no I/O in a signal handler)."""
        self._reread = True

    def current(self) -> ScopeMap:
        """The map in force, re-read first where the file changed or a re-read was asked for."""
        if self.path is None:
            return self.map
        stamp = self._stat()
        if stamp == self._stamp and not self._reread:
            return self.map
        with self._lock:
            self._reread, self._stamp = False, stamp
            try:
                self.map = read_scopes(self.path, self._fallback, self._known())
                log.info("scopes re-read from %s: %d channel(s) mapped", self.path, len(self.map.channels))
            except ScopeFileError as exc:
                log.error("scopes file not re-read, the previous scopes stay in force: %s", exc)
        return self.map


def check_scopes_file(path: Path | None, fallback: str) -> None:
    """Before the slow start-up: a scopes file that does not read or parse is bad input (exit 2)."""
    from bot.errors import BadInput

    if path is None:
        return
    try:
        parse_scopes(_read_text(path), path, fallback)
    except ScopeFileError as exc:
        raise BadInput(str(exc)) from exc


def channel_scopes(engine: Engine, path: Path | None) -> LiveScopes:
    """The scopes a starting bot answers by (an invalid file is bad input: exit 2), re-read on SIGHUP."""
    from bot.errors import BadInput

    try:
        live = LiveScopes(path, engine.config.location.collection, lambda: engine.store.collections())
    except ScopeFileError as exc:
        raise BadInput(str(exc)) from exc
    if path is not None and hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, lambda *_: live.request_reread())
    return live
