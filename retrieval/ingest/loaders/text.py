"""Plain text: the file's own characters, exactly (UTF-8, or UTF-16 with a byte-order mark)."""

from __future__ import annotations

from retrieval.ingest.loaders import Extracted, ExtractError
from retrieval.text.content import decode_text, has_byte_order_mark

SUFFIXES = (".txt",)


def parser_version() -> str:
    """Plain text needs no parser."""
    return ""


def checked_text(data: bytes) -> str:
    """decode_text, with the reason a file is not text as an ExtractError."""
    if b"\x00" in data and not has_byte_order_mark(data):
        raise ExtractError("binary file (contains NUL bytes)")
    try:
        return decode_text(data)
    except UnicodeDecodeError as exc:
        kind = "UTF-16" if has_byte_order_mark(data) else "UTF-8"
        raise ExtractError(f"not {kind} text (byte {exc.start})") from exc


def extract(data: bytes) -> Extracted:
    """The text itself; its places are lines."""
    return Extracted(checked_text(data))
