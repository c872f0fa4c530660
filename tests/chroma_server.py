"""Kept for bench/scale_served.py, which imports `tests.chroma_server`; the launcher is in tests/helpers/."""

from tests.helpers.chroma_server import chroma_process, running_chroma

__all__ = ["chroma_process", "running_chroma"]
