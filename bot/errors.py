"""The doors' own exceptions, in a leaf: the CLI catches them without importing pydantic."""

from __future__ import annotations


class SettingsError(Exception):
    """A setting has a value citebot cannot use."""
