"""Prompt templates as files: loaded once, checked for exactly the variables each one may use."""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path

from retrieval.errors import CitebotError

CANNOT_ANSWER = "I cannot find the answer in the provided passages."
SYSTEM_FILE = "answer_system.txt"
USER_FILE = "answer_user.txt"
# file -> (variables it must use, variables it may use)
VARIABLES: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    SYSTEM_FILE: (frozenset(), frozenset({"cannot_answer"})),
    USER_FILE: (frozenset({"question", "passages"}), frozenset({"question", "passages", "cannot_answer"})),
}


class PromptError(CitebotError):
    """A prompt file is missing, unreadable, or uses the wrong variables."""


@dataclass(frozen=True)
class Prompts:
    """The answer prompt: a system message and a user message template."""

    system: str
    user: str

    def messages(self, question: str, passages: str) -> tuple[str, str]:
        """The system and user texts for one question."""
        return (
            self.system.format(cannot_answer=CANNOT_ANSWER),
            self.user.format(question=question, passages=passages, cannot_answer=CANNOT_ANSWER),
        )


def _variables(path: Path, text: str) -> set[str]:
    try:
        return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}
    except ValueError as exc:
        raise PromptError(
            f"{path}: not a valid template ({exc}); write literal braces as {{{{ and }}}}"
        ) from exc


def load_prompts(folder: Path) -> Prompts:
    """Read and check both templates; an error names the file and the variables at fault."""
    texts: dict[str, str] = {}
    for name, (required, allowed) in VARIABLES.items():
        path = folder / name
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PromptError(f"{path}: cannot read the prompt template ({exc})") from exc
        used = _variables(path, text)
        if unknown := used - allowed:
            raise PromptError(f"{path}: unknown variable(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
        if missing := required - used:
            raise PromptError(f"{path}: missing variable(s) {sorted(missing)}")
        try:
            # Names alone pass "{question!z}" or "{question:d}"; filling it in finds what would fail later.
            text.format(**dict.fromkeys(allowed, "x"))
        except (ValueError, KeyError, IndexError, AttributeError) as exc:
            raise PromptError(f"{path}: cannot be filled in ({type(exc).__name__}: {exc})") from exc
        texts[name] = text
    return Prompts(texts[SYSTEM_FILE], texts[USER_FILE])
