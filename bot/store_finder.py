"""Which store a command uses: --store or CITEBOT_STORE, else the nearest .citebot upward, else the user's."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# The folder name a store takes beside the documents it indexes (found from any folder below it).
STORE_FOLDER = ".citebot"


def user_data_folder() -> Path:
    """The platform's folder for a user's application data (XDG on Linux and the other Unixes)."""
    home = Path.home()
    if sys.platform == "darwin":
        return home / "Library" / "Application Support"
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local")
    return Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share")


def user_store() -> Path:
    """The per-user store: used where no .citebot is found from the current folder upward."""
    return user_data_folder() / "citebot" / "store"


def nearest_store(start: Path) -> Path | None:
    """The nearest .citebot in start or a folder above it, as git finds its repository (a file counts too:
    opening it says it is not a store, rather than skipping it silently)."""
    for folder in (start, *start.parents):
        candidate = folder / STORE_FOLDER
        if candidate.exists() or candidate.is_symlink():
            return candidate
    return None


def default_store() -> Path:
    """The store a command uses when none is named."""
    try:
        start = Path.cwd()
    except OSError:  # the current folder was deleted under the shell
        return user_store()
    return nearest_store(start) or user_store()


def store_origin(path: Path, named: bool) -> str:
    """How the store was chosen, for `status` and `--verbose`."""
    if named:
        return "named by --store or CITEBOT_STORE"
    if path == user_store():
        return f"the per-user store: no {STORE_FOLDER} in the current folder or above it"
    return f"the nearest {STORE_FOLDER} from the current folder upward"
