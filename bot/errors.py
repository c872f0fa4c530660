"""The doors' own exceptions and their translation into exit codes (a leaf: no pydantic, no engine)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

from retrieval.errors import BusyError, CitebotError, InputError, NotFoundError

F = TypeVar("F", bound=Callable[..., Any])


class SettingsError(Exception):
    """A setting has a value citebot cannot use."""


class BadInput(click.ClickException):
    """Bad input from the user: `Error: ...` and exit code 2."""

    exit_code = 2


def doors(func: F) -> F:
    """Translate the engine's errors in one place: bad input exits 2, anything else 1, never a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (InputError, NotFoundError, SettingsError, BusyError) as exc:
            raise BadInput(str(exc)) from exc
        except CitebotError as exc:
            raise click.ClickException(str(exc)) from exc

    return wrapper  # type: ignore[return-value]
