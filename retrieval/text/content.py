"""A file's content: its bytes as text, and the sha256 addresses of bytes and of texts."""

from __future__ import annotations

import hashlib

_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def decode_text(data: bytes) -> str:
    """A file's bytes as text: UTF-16 with a byte-order mark, else UTF-8; newlines kept as they are.

    Citations are offsets into this exact string, so ingest and `cite` both read text files through here.
    """
    if data.startswith(_UTF16_BOMS):
        return data.decode("utf-16")
    if b"\x00" in data:
        raise UnicodeDecodeError("utf-8", data, data.index(b"\x00"), data.index(b"\x00") + 1, "NUL byte")
    return data.decode("utf-8")


def has_byte_order_mark(data: bytes) -> bool:
    """Whether data starts with a UTF-16 byte-order mark."""
    return data.startswith(_UTF16_BOMS)


def fingerprint(data: bytes) -> str:
    """The version of a file's content."""
    return hashlib.sha256(data).hexdigest()


def text_sha256(text: str) -> str:
    """The address of a text: sha256 of its UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
