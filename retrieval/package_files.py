"""Where the files citebot ships beside its code live: prompts/, models/ (the answer scorer), seeds/.

In a checkout they are top-level folders next to retrieval/ (the repository's layout). A built wheel maps them
into this package as `retrieval/shipped/<name>/` (pyproject.toml's package-dir), because top-level names such
as `models` or `prompts` would clash with other distributions in site-packages. The installed place is tried
first: beside an installed retrieval/ lies site-packages, where a stray `models/` of another distribution
must never be taken for citebot's. Standard library only: the doors compute these paths at start.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
# The sub-folder of this package that holds the shipped folders in an installed wheel.
SHIPPED = "shipped"


def shipped(name: str) -> Path:
    """The folder `name` (prompts, models or seeds): inside the installed package, else the checkout's."""
    installed = PACKAGE / SHIPPED / name
    if installed.is_dir():
        return installed
    return PACKAGE.parent / name
