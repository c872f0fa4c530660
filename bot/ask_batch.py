"""`citebot ask --batch`: JSON lines of {"id", "question"} in, one answer (or the line's error) out each."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any

from retrieval.errors import InputError

if TYPE_CHECKING:
    from retrieval.engine import Engine

# A line holds one question (at most 2,000 characters, retrieval/chain.py) and its id, a few KB at most; 1 MiB
# is far past any such line (one of 100,000 brackets is still read, and refused as JSON) and bounds what one
# line can hold in memory: `--batch /dev/zero` is a line that never ends.
MAX_LINE_BYTES = 1024 * 1024
# A warm answer with the answer scorer takes about 92 ms (BENCHMARKS.md, p50 on this 2-core machine), so
# 100,000 lines are some 2.5 hours of answers: more is an input that never ends (`yes '{}'`), not a batch.
MAX_LINES = 100_000


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


def _bounded_lines(handle: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    """The batch's lines, numbered from 1, each read at most MAX_LINE_BYTES at a time; a longer line, or more
    than MAX_LINES, ends the batch with an InputError (what was answered before it stands)."""
    for number in range(1, MAX_LINES + 2):
        raw = handle.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        if number > MAX_LINES:
            raise InputError(f"The batch has more than {MAX_LINES:,} lines; split it into smaller files")
        if len(raw.removesuffix(b"\n")) > MAX_LINE_BYTES:
            raise InputError(
                f"Line {number} of the batch is longer than {MAX_LINE_BYTES // 1024 // 1024} MB (each line "
                'is one JSON object {"id", "question"}); the batch stops there'
            )
        yield number, raw


def batch_lines(handle: IO[bytes], engine: Engine) -> Iterator[tuple[dict[str, Any], bool]]:
    """Each non-blank line answered: (the answer with its id, True), or (the line's error, False)."""
    for number, raw in _bounded_lines(handle):
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
