"""The engine's own exceptions; only the doors (bot/) turn them into messages and exit codes."""


class CitebotError(Exception):
    """Base of every error the engine raises on purpose."""


class InputError(CitebotError):
    """The user gave something unusable: an empty question, a missing path, a malformed id."""


class NoStoreError(InputError):
    """There is no store where the user asked (stores are made by `citebot ingest` only)."""


class UnknownCollectionError(InputError):
    """The store has no collection of that name (collections are made by `citebot ingest` only)."""


class BuildMismatchError(InputError):
    """The store was built another way (model, dimension, chunking, format) than this citebot would use."""


class LoadError(CitebotError):
    """One file could not be read as a text document (binary, not UTF-8, unreadable)."""


class NoTextError(LoadError):
    """One file was read cleanly and holds no text (a blank document): skipped with its reason, not failed."""


class StoreError(CitebotError):
    """The store cannot be opened or used: corrupt, foreign, or its server unreachable."""


class NotFoundError(CitebotError):
    """A citation id that names nothing in the index."""


class ModelError(CitebotError):
    """The embedding model cannot be loaded."""


class BusyError(CitebotError):
    """Another writer holds the collection's lock (the user may wait for it)."""
