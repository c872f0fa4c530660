"""Plain-text views of the engine's results, shared by the CLI and the REPL."""

from __future__ import annotations

from typing import Any

from retrieval.citations import Answer, CitedPassage

QUOTE_CHARS = 100


def short(text: str, limit: int = QUOTE_CHARS) -> str:
    """One line of at most limit characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def answer_text(answer: Answer) -> str:
    """The answer, then its numbered sources (or closest matches when abstained)."""
    lines = [answer.answer, ""]
    if answer.note:
        lines[1:1] = ["", f"Note: {answer.note}"]
    if answer.abstained:
        lines.append("Closest matches (not an answer):")
        for p in answer.passages[:3]:
            lines.append(f'  - {p.source}, line {p.line}: "{short(p.text)}"')
            lines.append(f"    id {p.id}")
    else:
        lines.append("Sources:")
        for c in answer.citations:
            lines.append(f'  [{c.n}] {c.source}, line {c.line}: "{short(c.quote)}"')
            lines.append(f"      id {c.id}")
    return "\n".join(lines)


def cited_text(cited: CitedPassage) -> str:
    """A citation with its context lines; the quote is marked with » «."""
    where = f"{cited.source}, line {cited.first_line}" + (
        f"-{cited.last_line}" if cited.last_line != cited.first_line else ""
    )
    return "\n".join(
        [
            f"{where}  ({cited.path}, characters {cited.start}-{cited.end})",
            "",
            f"{cited.before}»{cited.quote}«{cited.after}",
        ]
    )


def status_text(status: dict[str, Any]) -> str:
    """The status as aligned lines."""
    names = {
        "store": "Store",
        "documents": "Documents",
        "chunks": "Chunks",
        "model": "Model",
        "last_ingested": "Last ingested",
    }
    return "\n".join(f"{names[k] + ':':<15}{v if v is not None else 'never'}" for k, v in status.items())
