"""Plain-text views of the engine's results, shared by the CLI and the REPL."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # for annotations only: pydantic's models cost `citebot --help` 0.2 s
    from retrieval.types import Answer, CitedPassage, Location

QUOTE_CHARS = 100
# An abstention lists this many of its passages as the closest matches (the REPL numbers them for `:cite N`).
CLOSEST = 3
# C0 and C1 control characters but tab and newline: a document's ESC sequences must not drive the terminal.
_C1 = re.compile(r"[\x7f-\x9f]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def safe(text: str) -> str:
    """Text as a terminal may show it: control characters written out (\\x1b), CRLF read as a line break."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text.replace("\r\n", "\n"))


def json_line(data: Any) -> str:
    """One JSON text, UTF-8 kept readable but DEL and C1 controls escaped (json leaves them raw)."""
    return _C1.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(data, ensure_ascii=False))


def short(text: str, limit: int = QUOTE_CHARS) -> str:
    """One line of at most limit characters."""
    flat = safe(" ".join(text.split()))
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def confidence_note(answer: Answer) -> str | None:
    """The warning shown under a low-confidence answer (the scorer thinks it more likely wrong than right)."""
    if answer.abstained or not answer.low_confidence or answer.confidence is None:
        return None
    return (
        f"Low confidence ({answer.confidence:.0%}): the documents may not answer this; "
        "check the quoted source before relying on it."
    )


def place(location: Location, brief: bool = False) -> str:
    """Where a span is: "page 3" (brief: "p. 3"), "slide 2", "section Scope", else "line 12".

    In a file that is its own text (.txt, .md) the line is the most exact place, so it is shown there.
    """
    if location.text_path == location.path or not location.location:
        return f"line {location.line}"
    label = location.location
    if brief:
        label = label.replace("pages ", "pp. ").replace("page ", "p. ")
    return label


def answer_text(answer: Answer, numbered: bool = False) -> str:
    """The answer, then its numbered sources (or closest matches when abstained; numbered: as [n] too)."""
    lines = [safe(answer.answer), ""]
    if answer.note:
        lines[1:1] = ["", f"Note: {answer.note}"]
    warning = confidence_note(answer)
    if warning:
        lines[1:1] = ["", warning]
    if answer.abstained and not answer.passages:
        lines.append("Nothing indexed comes close (`citebot status` shows what is indexed).")
    elif answer.abstained:
        lines.append(f"Closest matches (not an answer{'; :cite N opens one' if numbered else ''}):")
        for n, p in enumerate(answer.passages[:CLOSEST], start=1):
            mark = f"[{n}]" if numbered else "-"
            lines.append(f'  {mark} {safe(p.source)}, {safe(place(p))}: "{short(p.text)}"')
            lines.append(f"{' ' * (len(mark) + 3)}id {safe(p.id)}")
    else:
        lines.append("Sources:")
        for c in answer.citations:
            changed = " (changed since it was indexed)" if c.stale else ""
            lines.append(f'  [{c.n}] {safe(c.source)}, {safe(place(c))}{changed}: "{short(c.quote)}"')
            lines.append(f"      id {c.id}")
    if any(c.stale for c in answer.citations):
        lines.append("Note: a cited file changed since it was indexed; run `citebot ingest` to refresh.")
    return "\n".join(lines)


def shown_path(path: str) -> str:
    """A file's path as a person reads it: relative to the current folder when inside it, else ~/..."""
    where = Path(path)
    for base, prefix in ((Path.cwd(), ""), (Path.home(), "~/")):
        if base != Path(base.anchor) and where.is_relative_to(base):
            return prefix + where.relative_to(base).as_posix()
    return path


def cited_text(cited: CitedPassage) -> str:
    """A citation with its context lines; the quote is marked with » «."""
    lines_part = f"-{cited.last_line}" if cited.last_line != cited.line else ""
    extracted = cited.text_path != cited.path
    where = (
        f"{cited.source}, {place(cited)}" if extracted else f"{cited.source}, line {cited.line}{lines_part}"
    )
    of_text = " of its extracted text" if extracted else ""
    lines = [
        f"{safe(where)}  ({safe(shown_path(cited.path))}, characters {cited.start}-{cited.end}{of_text})",
        "",
        safe(f"{cited.before}»{cited.quote}«{cited.after}"),
    ]
    if cited.stale:
        lines[1:1] = ["", "Note: the file changed since it was indexed; this is the indexed text."]
    return "\n".join(lines)


def status_text(status: dict[str, Any]) -> str:
    """The status as aligned lines."""
    names = {
        "store": "Store",
        "documents": "Documents",
        "chunks": "Chunks",
        "model": "Model",
        "last_ingested": "Last ingested",
        "damaged_records": "Damaged",
        "failed_files": "Failed files",
    }
    optional = ("damaged_records", "failed_files")  # shown only when there are some
    shown = {k: v for k, v in status.items() if k in names and (k not in optional or v)}
    lines = [f"{names[k] + ':':<15}{safe(str(v)) if v is not None else 'never'}" for k, v in shown.items()]
    if status.get("damaged_records"):
        at = next(n for n, k in enumerate(shown) if k == "damaged_records")
        lines[at] += " manifest records unreadable (their files are indexed anew by the next ingest)"
    if status.get("failed_files"):
        lines[-1] += " failed their last ingest (`citebot ingest` names them; the Slack App Home lists them)"
    if status.get("store_origin"):
        lines.insert(1, f"{'Chosen as:':<15}{status['store_origin']}")
    if len(status.get("collections") or {}) > 1:  # one is the store line's own "(collection NAME)"
        listed = ", ".join(
            f"{safe(name)}{' (this one)' if name == status.get('collection') else ''}: {count} files"
            for name, count in status["collections"].items()
        )
        lines.insert(1, f"{'Collections:':<15}{listed}")
    if "build" in status:
        lines.extend(build_lines(status["build"]))
    return "\n".join(lines)


def build_lines(build: dict[str, Any] | None) -> list[str]:
    """How the store was built, as status lines (a store older than build records says so)."""
    if build is None:
        why = "not recorded yet (taken as this model in fp32; recorded at the next ingest)"
        return [f"{'Built with:':<15}{why}"]
    return [
        f"{'Variant:':<15}{safe(str(build['variant']))}",
        f"{'Dimension:':<15}{build['dimension']}",
        f"{'Chunk size:':<15}{build['chunk_chars']} characters",
        f"{'Chunker:':<15}version {build['chunker_version']}",
        f"{'Store format:':<15}{build['store_format']}",
    ]
