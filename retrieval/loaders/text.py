"""Plain text: the file's own characters, exactly (UTF-8, or UTF-16 with a byte-order mark)."""

from __future__ import annotations

from retrieval.loaders import Extracted, ExtractError

SUFFIXES = (".txt",)
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def parser_version() -> str:
    """Plain text needs no parser."""
    return ""


def decode_text(data: bytes) -> str:
    """A file's bytes as text: UTF-16 with a byte-order mark, else UTF-8; newlines kept as they are.

    Citations are offsets into this exact string, so ingest and `cite` both read text files through here.
    """
    if data.startswith(_UTF16_BOMS):
        return data.decode("utf-16")
    if b"\x00" in data:
        raise UnicodeDecodeError("utf-8", data, data.index(b"\x00"), data.index(b"\x00") + 1, "NUL byte")
    return data.decode("utf-8")


def checked_text(data: bytes) -> str:
    """decode_text, with the reason a file is not text as an ExtractError."""
    if b"\x00" in data and not data.startswith(_UTF16_BOMS):
        raise ExtractError("binary file (contains NUL bytes)")
    try:
        return decode_text(data)
    except UnicodeDecodeError as exc:
        kind = "UTF-16" if data.startswith(_UTF16_BOMS) else "UTF-8"
        raise ExtractError(f"not {kind} text (byte {exc.start})") from exc


def extract(data: bytes) -> Extracted:
    """The text itself; its places are lines."""
    return Extracted(checked_text(data))
