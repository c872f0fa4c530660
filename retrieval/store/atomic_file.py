"""Writing a file so that a reader sees the old whole or the new whole, never one half-written."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# How a file being written whole is named until its rename (a reader may meet one left by a killed writer).
PARTIAL = ".partial-"


def write_atomically(path: Path, data: bytes) -> None:
    """Write data to path through a temporary file beside it and one rename (OSError on failure)."""
    handle, partial = tempfile.mkstemp(dir=path.parent, prefix=PARTIAL)
    try:
        with os.fdopen(handle, "wb") as out:
            # mkstemp makes the file private (0600); a store on a shared disk is read by other users' bots.
            os.fchmod(out.fileno(), 0o644)
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, path)
    except BaseException:
        # Interrupted or failed: the temporary file must not be left to pile up beside the real one.
        Path(partial).unlink(missing_ok=True)
        raise
