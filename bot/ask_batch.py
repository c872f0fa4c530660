"""`citebot ask --batch`: JSON lines of {"id", "question"} in, one answer (or the line's error) out each."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any

from retrieval.errors import InputError

if TYPE_CHECKING:
    from retrieval.engine import Engine


def _no_constants(name: str) -> Any:
    raise InputError(f"{name} is not valid JSON")


def _batch_item(raw: bytes, first: bool) -> dict[str, Any]:
    """One batch line as a JSON object, or an InputError saying what is wrong with it."""
    try:
        # A UTF-8 byte-order mark (Windows editors write one) is not part of the first line's JSON.
        line = (raw.removeprefix(b"\xef\xbb\xbf") if first else raw).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"the line is not UTF-8 text (byte {exc.start + 1})") from exc
    try:
        item = json.loads(line, parse_constant=_no_constants)
    except RecursionError as exc:
        raise InputError("the line's JSON is nested too deeply") from exc
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    if not isinstance(item, dict):
        raise InputError('each line must be a JSON object {"id", "question"}')
    return item


def batch_lines(handle: IO[bytes], engine: Engine) -> Iterator[tuple[dict[str, Any], bool]]:
    """Each non-blank line answered: (the answer with its id, True), or (the line's error, False)."""
    for number, raw in enumerate(handle, start=1):
        if not raw.strip():
            continue
        item_id: Any = None
        try:
            item = _batch_item(raw, first=number == 1)
            item_id = item.get("id")
            question = item.get("question")
            if not isinstance(question, str):
                raise InputError('the line has no "question" string')
            yield {"id": item_id, **engine.ask(question).model_dump()}, True
        except InputError as exc:
            yield {"id": item_id, "line": number, "error": str(exc)}, False
