"""Rich views for the REPL: the answer with its [n] markers highlighted, numbered sources, passages."""

from __future__ import annotations

import re

from rich.console import Console
from rich.table import Table
from rich.text import Text

from bot.render import CLOSEST, cited_text, confidence_note, place, safe, short
from retrieval.types import Answer, CitedPassage, Location

_MARKER = re.compile(r"\[\d+\]")


def answer_view(answer: Answer) -> Text:
    """The answer text with markers styled, then its sources or closest matches."""
    shown = safe(answer.answer)
    text = Text(shown, style="italic" if answer.abstained else "")
    for match in _MARKER.finditer(shown):
        text.stylize("bold cyan", match.start(), match.end())
    text.append("\n")
    warning = confidence_note(answer)
    if warning:
        text.append(f"{warning}\n", style="bold yellow")
    if answer.note:
        text.append(f"Note: {safe(answer.note)}\n", style="yellow")
    if answer.abstained and not answer.passages:
        text.append("\nNothing indexed comes close (`citebot status` shows what is indexed).\n", style="dim")
    elif answer.abstained:
        text.append("\nClosest matches (not an answer; :cite N opens one):\n", style="dim")
        for n, p in enumerate(answer.passages[:CLOSEST], start=1):
            text.append(f"  [{n}] ", style="cyan")
            text.append(f"{where(p)} ", style="dim")
            text.append(f'"{short(p.text, 90)}"\n', style="dim")
    else:
        for c in answer.citations:
            text.append(f"  [{c.n}] ", style="bold cyan")
            text.append(f"{where(c)} ", style="green")
            if c.stale:
                text.append("(changed since indexed) ", style="yellow")
            text.append(f'"{short(c.quote, 90)}"\n')
    return text


def where(location: Location) -> str:
    """A span's place, compactly: `notes.txt:12`, or `handbook.pdf, p. 3` for a page, slide or section."""
    if location.text_path == location.path or not location.location:
        return safe(f"{location.source}:{location.line}")
    return safe(f"{location.source}, {place(location, brief=True)}")


def sources_view(answer: Answer) -> Table:
    """Every retrieved passage of an answer with its score."""
    table = Table(show_header=True, header_style="bold", box=None)
    for name in ("#", "score", "where", "passage"):
        table.add_column(name)
    for i, p in enumerate(answer.passages, start=1):
        table.add_row(str(i), f"{p.score:.3f}", where(p), short(p.text, 70))
    return table


def cited_view(cited: CitedPassage) -> str:
    """The same view as `citebot cite ID`."""
    return cited_text(cited)


def print_plain(console: Console, text: str) -> None:
    """Print text exactly, with no markup or highlighting."""
    console.print(text, markup=False, highlight=False, soft_wrap=True)
