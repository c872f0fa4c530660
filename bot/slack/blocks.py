"""Block Kit for answers: escaped text, numbered sources, buttons, within Slack's size limits.

SEE: https://api.slack.com/reference/surfaces/formatting#escaping and
https://api.slack.com/reference/block-kit/blocks (3,000 characters a section, 50 blocks a message).
"""

from __future__ import annotations

import json
import re
from typing import Any

from bot.render import confidence_note, place, short
from retrieval.types import Answer, CitedPassage

SECTION_LIMIT = 3000
CONTEXT_ELEMENT_LIMIT = 2000
MESSAGE_BLOCK_LIMIT = 50
MESSAGE_CHAR_BUDGET = 8000
QUOTE_CHARS = 120
ABSTAINED_TEXT = "The documents don't cover this, as far as I can tell."
SORRY = "Sorry, I couldn't answer that: {reason}"
RATE_LIMITED = "You've asked {limit} questions in the last minute. Please wait a moment and ask again."
STALE = " (changed since it was indexed)"
NOT_HERE = "I'm not enabled in this channel. Ask me in a channel where I'm allowed, or in a direct message."
GONE = "That answer is no longer available; please ask again."
HANDOFF_BUTTON = ":raising_hand: Get help from a person"
_PARTIAL_ESCAPE = re.compile(r"&[a-z]{0,3}$")


def escape(text: str) -> str:
    """Escape Slack's control characters so document text can never ping or link anyone."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _trim(text: str, limit: int, pointer: str) -> str:
    if len(text) <= limit:
        return text
    cut = _PARTIAL_ESCAPE.sub("", text[: limit - len(pointer) - 1])  # never show half an `&amp;`
    return cut.rstrip() + "…" + pointer


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _context(lines: list[str]) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": "\n".join(lines)}]}


def _button(text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": text, "emoji": True},
        "action_id": action_id,
        "value": value[:2000],
    }
    if style:
        button["style"] = style
    return button


def answer_blocks(
    answer: Answer, answer_id: str, share: bool = False, handoff: bool = False
) -> list[dict[str, Any]]:
    """The answer, its sources and its buttons (handoff: "Get help from a person" too, in a scope with an
    escalate_to); abstained answers offer the closest matches."""
    blocks: list[dict[str, Any]] = []
    if answer.abstained:
        blocks.append(_section(f"_{ABSTAINED_TEXT}_"))
        lines = ["*Closest matches (not an answer):*"] + [
            f'• {escape(p.source)}, {escape(place(p, brief=True))} - "{escape(short(p.text, QUOTE_CHARS))}"'
            for p in answer.passages[:3]
        ]
        if answer.passages:  # an empty store has none: no heading over nothing
            blocks.append(_context([_trim("\n".join(lines), CONTEXT_ELEMENT_LIMIT, "")]))
    else:
        first = answer.citations[0].id if answer.citations else ""
        pointer = f" (full passage: Sources, or `citebot cite {escape(first)}`)"
        blocks.append(_section(_trim(escape(answer.answer), SECTION_LIMIT, pointer)))
        lines = [
            f"[{c.n}] {escape(c.source)}, {escape(place(c, brief=True))}{STALE if c.stale else ''}"
            f' - "{escape(short(c.quote, QUOTE_CHARS))}"'
            for c in answer.citations
        ]
        blocks.append(_context([_trim("\n".join(lines), CONTEXT_ELEMENT_LIMIT, " …")]))
        warning = confidence_note(answer)
        if warning:
            blocks.insert(1, _context([f":warning: _{escape(warning)}_"]))
    if answer.note:
        blocks.append(_context([_trim(f"_{escape(answer.note)}_", CONTEXT_ELEMENT_LIMIT, "")]))
    buttons = [_button("Sources", "citebot_sources", answer_id)]
    if share:
        buttons.append(_button("Share in channel", "citebot_share", answer_id, "primary"))
    buttons += [
        _button(":thumbsup: Helpful", "citebot_helpful", answer_id),
        _button(":thumbsdown: Not helpful", "citebot_not_helpful", answer_id),
    ]
    if handoff:
        buttons.append(_button(HANDOFF_BUTTON, "citebot_handoff", answer_id))
    blocks.append({"type": "actions", "block_id": "citebot_actions", "elements": buttons})
    return blocks[:MESSAGE_BLOCK_LIMIT]


def fallback_text(answer: Answer) -> str:
    """The notification / screen-reader text of an answer message."""
    return _trim(escape(ABSTAINED_TEXT if answer.abstained else answer.answer), SECTION_LIMIT, "")


def sources_blocks(passages: list[CitedPassage]) -> list[dict[str, Any]]:
    """The full cited passages, each with its place, within the message budget."""
    blocks: list[dict[str, Any]] = [_section("*Sources*")]
    used = 0
    for n, cited in enumerate(passages, start=1):
        where = f"*[{n}] {escape(cited.source)}*, {escape(place(cited, brief=True))} (`{escape(cited.id)}`)"
        body = f"{escape(cited.before[-300:])}*{escape(cited.quote)}*{escape(cited.after[:300])}"
        text = _trim(f"{where}\n>{' '.join(body.split())}", SECTION_LIMIT, " …")
        if used + len(text) > MESSAGE_CHAR_BUDGET or len(blocks) >= MESSAGE_BLOCK_LIMIT:
            blocks.append(_context([f"…and {len(passages) - n + 1} more; see `citebot cite ID`."]))
            break
        used += len(text)
        blocks.append(_section(text))
    return blocks


def message_size(blocks: list[dict[str, Any]]) -> int:
    """Characters a message's blocks take, as Slack counts its payload."""
    return len(json.dumps(blocks, ensure_ascii=False))
