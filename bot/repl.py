"""The REPL: ask, look at sources, open citations, follow up; on a terminal or fed by a pipe."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from rich.console import Console

from bot.ingest_report import summary_line
from bot.render import CLOSEST, answer_text, json_line, safe
from bot.repl_view import answer_view, cited_view, print_plain, sources_view, where
from bot.settings import Settings
from retrieval.conversation import Turn
from retrieval.errors import CitebotError
from retrieval.store.layout import StoreLayout
from retrieval.types import Answer

if TYPE_CHECKING:
    from retrieval.engine import Engine

PROMPT = "citebot> "
SPINNER_AFTER_S = 0.3
BANNER = "citebot: ask about your documents. :help for commands, Ctrl-D to leave."
HELP = """Type a question, or a command:
  :cite N         open citation N of the last answer in context (or closest match N of an abstention)
  :sources        every passage retrieved for the last answer, with scores
  :json           toggle raw JSON output
  :ingest [PATH]  re-ingest (incremental) the corpus, or PATH, without leaving
  :k N            retrieve N passages per question
  :new            start a new conversation (forget the previous questions)
  :help           this help
  :quit           leave (Ctrl-D works too; Ctrl-C cancels the current line)
A short question, or one starting with "and", "but", "it", "they", "what about"..., follows up on the
previous one: it is searched together with it."""


# A citation's number and k are small: a number of more digits than this is out of every range, and is
# never given to int() (which refuses past 4,300 digits with a ValueError).
_MAX_DIGITS = 9
_TOO_LARGE = 10**_MAX_DIGITS


def _whole_number(text: str) -> int | None:
    """text as a whole number of ASCII digits (_TOO_LARGE past _MAX_DIGITS), or None if it is not one."""
    # str.isdigit() accepts "²" and other digits int() refuses.
    if not (text.isascii() and text.isdigit()):
        return None
    digits = text.lstrip("0") or "0"
    return int(digits) if len(digits) <= _MAX_DIGITS else _TOO_LARGE


def _as_written(n: int, text: str) -> str:
    """A number as a message shows it: itself, or for one too large, its first digits and its length."""
    if n < _TOO_LARGE:
        return str(n)
    return text if len(text) <= 20 else f"{text[:12]}… ({len(text):,} digits)"


class ReplError(Exception):
    """A command used wrongly; shown as one line, the session goes on."""


class Session:
    """One conversation: the engine, the turns so far, the last answer and the output mode."""

    def __init__(
        self, engine: Engine, settings: Settings, console: Console, json_mode: bool, rich: bool
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.console = console
        self.json_mode = json_mode
        self.rich = rich
        self.turns: list[Turn] = []
        self.last: Answer | None = None

    def emit(self, data: Any) -> None:
        """One JSON line."""
        print_plain(self.console, json_line(data))

    def say(self, text: str) -> None:
        """A line of text, or in JSON mode a {"message"} line."""
        if self.json_mode:
            self.emit({"message": text})
        else:
            print_plain(self.console, safe(text))

    def error(self, text: str) -> None:
        """A one-line error; the session goes on."""
        if self.json_mode:
            self.emit({"error": text})
        else:
            self.console.print(f"Error: {safe(text)}", style="bold red", markup=False, highlight=False)

    def handle(self, line: str) -> bool:
        """Act on one input line; False when the session should end."""
        line = line.strip()
        if not line:
            return True
        try:
            if line.startswith(":"):
                return self.command(line)
            self.ask(line)
        except (CitebotError, ReplError) as exc:
            self.error(str(exc))
        except KeyboardInterrupt:
            self.error("cancelled")
        except Exception as exc:  # a failing answer must never end the session
            self.error(f"{type(exc).__name__}: {exc}")
        return True

    @contextmanager
    def spinner(self) -> Iterator[Callable[[str], None]]:
        """A spinner after SPINNER_AFTER_S, on a terminal only; yields a function that changes its words."""
        if not self.rich:
            yield lambda words: None
            return
        status = self.console.status("Thinking…", spinner="dots")
        timer = threading.Timer(SPINNER_AFTER_S, status.start)
        timer.start()
        try:
            yield lambda words: status.update(words)
        finally:
            timer.cancel()
            status.stop()

    def ask(self, question: str) -> None:
        """Answer a question, as a follow-up of the turns so far when it leans on them."""
        with self.spinner() as show:
            if self.rich and self.engine.config.llm:
                # A model's reply is never printed as it streams: its markers ([99]) and sentences are
                # checked, renumbered or dropped afterwards. Only how far it has got is shown.
                answer = self.engine.ask(question, self.turns, on_token=DraftProgress(show))
            else:
                answer = self.engine.ask(question, self.turns)
        self.last = answer
        self.turns.append(
            Turn(question=question, cited=[c.id for c in answer.citations], query=answer.retrieval_query)
        )
        if self.json_mode:
            self.emit(answer.model_dump())
        elif self.rich:
            self.console.print(answer_view(answer))
        else:
            print_plain(self.console, answer_text(answer, numbered=True) + "\n")

    def _last(self) -> Answer:
        if self.last is None:
            raise ReplError("No answer yet: ask a question first")
        return self.last

    def command(self, line: str) -> bool:
        """Run a :command."""
        name, _, arg = line[1:].partition(" ")
        arg = arg.strip()
        if name in ("quit", "q", "exit"):
            return False
        handler = getattr(self, f"cmd_{name}", None)
        if handler is None:
            raise ReplError(f"Unknown command :{name} (type :help)")
        handler(arg)
        return True

    def cmd_help(self, arg: str) -> None:
        """:help"""
        self.say(HELP)

    def cmd_new(self, arg: str) -> None:
        """:new"""
        self.turns = []
        self.last = None
        self.say("New conversation.")

    def cmd_json(self, arg: str) -> None:
        """:json"""
        self.json_mode = not self.json_mode
        self.say(f"JSON output {'on' if self.json_mode else 'off'}.")

    def cmd_k(self, arg: str) -> None:
        """:k N"""
        k = _whole_number(arg)
        if k is None or not 1 <= k <= 50:
            raise ReplError(":k takes a whole number from 1 to 50, e.g. :k 8")
        self.engine.set_k(k)
        self.say(f"Retrieving {arg} passages per question.")

    def cmd_cite(self, arg: str) -> None:
        """:cite N"""
        answer = self._last()
        n = _whole_number(arg)
        if n is None:
            raise ReplError(":cite takes a citation number, e.g. :cite 1")
        cited = self.engine.cite(cited_id(answer, n, _as_written(n, arg)))
        if self.json_mode:
            self.emit(cited.model_dump())
        else:
            print_plain(self.console, cited_view(cited))

    def cmd_sources(self, arg: str) -> None:
        """:sources"""
        answer = self._last()
        if not answer.passages:
            self.say("No passages were retrieved for the last answer.")
        elif self.json_mode:
            self.emit([p.model_dump() for p in answer.passages])
        elif self.rich:
            self.console.print(sources_view(answer))
        else:
            for i, p in enumerate(answer.passages, start=1):
                print_plain(self.console, f"{i}. {p.score:.3f} {where(p)} {safe(p.id)}")

    def cmd_ingest(self, arg: str) -> None:
        """:ingest [PATH]"""
        paths = [Path(arg).expanduser()] if arg else [self.settings.corpus]
        with self.spinner():
            summary = self.engine.ingest(paths)
        for failure in summary.failures:
            self.error(f"failed: {failure}")
        for skip in summary.skips:
            self.say(f"skipped: {skip}")
        if self.json_mode:
            self.emit(summary.as_json())
        else:
            self.say(summary_line(summary))


class DraftProgress:
    """on_token for a model's reply: counts its tokens into the spinner's words, never shows the text."""

    def __init__(self, show: Callable[[str], None]) -> None:
        self.show = show
        self.tokens = 0

    def __call__(self, token: str) -> None:
        self.tokens += 1
        self.show(f"The model is writing ({self.tokens} tokens); its answer is shown once checked…")


def cited_id(answer: Answer, n: int, written: str | None = None) -> str:
    """The id `:cite n` opens: citation n, or for an abstention its closest match n (numbered as shown);
    written: n as the error shows it (a number too large to show whole)."""
    shown = written or str(n)
    if answer.abstained and not answer.citations:
        matches = answer.passages[:CLOSEST]
        if not 1 <= n <= len(matches):
            raise ReplError(f"The last answer has no closest match {shown} (it has {len(matches)})")
        return matches[n - 1].id
    cited = [c for c in answer.citations if c.n == n]
    if not cited:
        raise ReplError(f"The last answer has no citation {shown} (it has {len(answer.citations)})")
    return cited[0].id


def run_piped(session: Session, lines: IO[str]) -> None:
    """One input line at a time until the end of input."""
    for line in lines:
        if not session.handle(line):
            return


def run_terminal(session: Session, history: Path) -> None:
    """The interactive loop with history and line editing (prompt_toolkit)."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory

    prompt: PromptSession[str] = PromptSession(history=FileHistory(str(history)))
    session.console.print(
        "citebot: ask about your documents. :help for commands, Ctrl-D to leave.", style="dim"
    )
    while True:
        try:
            line = prompt.prompt(PROMPT)
        except KeyboardInterrupt:
            continue
        except EOFError:
            break
        if not session.handle(line):
            break


def run(engine: Engine, settings: Settings, json_mode: bool) -> None:
    """Start the REPL: interactive on a terminal, line by line from a pipe."""
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    console = (
        Console(highlight=False) if interactive else Console(highlight=False, no_color=True, width=10_000)
    )
    session = Session(engine, settings, console, json_mode, rich=interactive and not json_mode)
    engine.chain()
    engine.embedder.embed_query("warm up")
    if interactive:
        run_terminal(session, StoreLayout(settings.store).repl_history)
    else:
        run_piped(session, sys.stdin)
