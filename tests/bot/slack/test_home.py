"""The App Home tab through real bolt over HTTP: app_home_opened in, views.publish out (the stand-in serves
users.conversations from its `members`: the channels a user shares with citebot).

C0HR reads hr, every other channel the default (citebot); the store holds one file in each, made by ingest.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import docx
import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.slack.app import SlackBot
from bot.slack.blocks import escape
from bot.slack.feedback import FeedbackStore
from bot.slack.home import MAX_ROWS, NO_CHANNELS, NO_LIST, Facts, home_view
from bot.slack.scopes import LiveScopes
from retrieval.engine import Engine
from retrieval.inference.embedder import Embedder
from tests.bot.slack.harness import Running, running, strings
from tests.conftest import make_engine
from tests.helpers.slack_standin import SlackStandIn

pytestmark = pytest.mark.usefixtures("no_leftover_threads")
SCOPES = 'default = ["citebot"]\n[channels]\nC0HR = { collections = ["hr"], mode = "questions" }\n'


@pytest.fixture
def live(tmp_path: Path, two_collections: Engine) -> LiveScopes:
    path = tmp_path / "scopes.toml"
    path.write_text(SCOPES, encoding="utf-8")
    return LiveScopes(path, "citebot", two_collections.store.collections)


def opened(bot: Running, user: str, tab: str = "home") -> None:
    """The app_home_opened event of a user opening a tab."""
    ts = bot.slack.new_ts()
    bot.send(
        {"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": tab, "event_ts": ts, "ts": ts}
    )


def views(slack: SlackStandIn, user: str) -> list[dict[str, Any]]:
    """The views published for a user."""
    calls = [c.params for c in slack.calls_to("views.publish") if c.params.get("user_id") == user]
    return [c["view"] if isinstance(c["view"], dict) else json.loads(c["view"]) for c in calls]


def text_of(view: dict[str, Any]) -> str:
    return " ".join(strings(view["blocks"]))


def test_each_user_sees_only_the_collections_their_channels_read(
    two_collections: Engine, slack: SlackStandIn, feedback: FeedbackStore, live: LiveScopes
) -> None:
    """Bad input tried: a user who is in C0HR only through a channel citebot is not in (C0SECRET, where the
    bot is absent, does not count), a second open (published again, fresh), and the Messages tab (nothing
    published)."""
    slack.members = {"C0HR": {"U1", "UBOT"}, "C0GEN": {"U1", "U2", "UBOT"}, "C0SECRET": {"U2"}}
    with running(two_collections, slack, feedback, scopes=live) as bot:
        opened(bot, "U1")
        opened(bot, "U2")
        opened(bot, "U2", tab="messages")
        slack.wait_for("views.publish", 2)
        opened(bot, "U2")
    (both,) = views(slack, "U1")
    shown = text_of(both)
    assert "*citebot*: 1 documents" in shown and "*hr*: 1 documents" in shown
    assert "<#C0HR>" in shown and "<#C0GEN>" in shown and "last ingested 20" in shown
    first, again = views(slack, "U2")
    assert first == again
    assert "*citebot*: 1 documents" in text_of(first)
    assert "*hr*" not in text_of(first) and "C0HR" not in text_of(first)


def test_a_user_in_no_served_channel_gets_one_line(
    two_collections: Engine, slack: SlackStandIn, feedback: FeedbackStore, live: LiveScopes
) -> None:
    """Bad input tried: a user in no channel at all, one only in channels citebot is not in, one only in a
    channel citebot is in but not allowed to answer in (CITEBOT_SLACK_CHANNELS), and a users.conversations
    call Slack refuses (missing_scope: an app made from an older manifest)."""
    slack.members = {"C0HR": {"U3"}, "C0OFF": {"U4", "UBOT"}, "C0GEN": {"UBOT"}}
    with running(two_collections, slack, feedback, scopes=live, channels="C0GEN,C0HR") as bot:
        for user in ("U9", "U3", "U4"):
            opened(bot, user)
        slack.wait_for("views.publish", 3)
        slack.error_next("users.conversations", "missing_scope")
        opened(bot, "U5")
    for user in ("U9", "U3", "U4"):
        (view,) = views(slack, user)
        assert text_of(view).endswith(NO_CHANNELS) and "documents" not in text_of(view)
    (refused,) = views(slack, "U5")
    assert NO_LIST.format(error="missing_scope") in text_of(refused)


def test_failed_files_are_listed_with_reasons_and_paged(
    two_collections: Engine, slack: SlackStandIn, feedback: FeedbackStore, live: LiveScopes
) -> None:
    """Bad input tried: 120 failed files in one collection, 30 in another (at most MAX_ROWS rows in all, the
    rest counted), a reason holding `<!channel>` (escaped: it pings nobody)."""
    slack.members = {"C0HR": {"U1", "UBOT"}, "C0GEN": {"U1", "UBOT"}}
    failures = {
        "hr": [f"pay-{n}.pdf: the parser failed (PdfReadError)" for n in range(30)],
        "citebot": ["<!channel>.docx: not a Word file", *(f"notes-{n}.md: cannot read" for n in range(119))],
    }
    with running(two_collections, slack, feedback, scopes=live) as bot:
        citebot: SlackBot = bot.app.extensions["citebot"]  # type: ignore[attr-defined]
        citebot.failed_files = failures.__getitem__  # type: ignore[method-assign,assignment]
        opened(bot, "U1")
    (view,) = views(slack, "U1")
    shown = text_of(view)
    assert shown.count("• ") == MAX_ROWS
    assert "&lt;!channel&gt;.docx: not a Word file" in shown and "<!channel>" not in shown
    assert "Failed files (120):" in shown and "Failed files (30):" in shown
    assert "…and 70 more failed files" in shown and "…and 30 more failed files" in shown
    assert len(view["blocks"]) <= 100


def test_a_large_view_keeps_within_slacks_limits() -> None:
    """Bad input tried: 30 collections with 60 long failure reasons each (rows, sections, blocks bounded)."""
    facts = [
        Facts(f"c{n}", ["C1"], 5, "2026-01-01", [f"{'x' * 900} {m}" for m in range(60)]) for n in range(30)
    ]
    view = home_view(facts)
    assert len(view["blocks"]) <= 100
    assert all(len(b["text"]["text"]) <= 3000 for b in view["blocks"] if b["type"] == "section")
    assert " ".join(strings(view["blocks"])).count("• ") == MAX_ROWS
    assert "…and 10 more collections" in " ".join(strings(view["blocks"]))


def test_a_failed_file_is_listed_with_its_reason_until_it_is_fixed(
    tmp_path: Path, embedder: Embedder, slack: SlackStandIn, feedback: FeedbackStore
) -> None:
    """Bad input tried: a .docx that is not a Word file, ingested: the Home tab and `citebot status` name it
    with the ingest's reason; once it is made a real Word document and ingested again, both drop it."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "notes.md").write_text("# Notes\n\nThe canteen opens at eight.\n", encoding="utf-8")
    (docs / "plan.docx").write_bytes(b"not a zip, so not a Word file")
    engine = make_engine(tmp_path / "store", embedder)
    (reported,) = engine.ingest([docs]).failures
    status = CliRunner().invoke(cli, ["status", "--store", str(tmp_path / "store")])
    assert status.exit_code == 0 and "Failed files:  1 failed their last ingest" in status.output
    slack.members = {"C0GEN": {"U1", "UBOT"}}
    with running(engine, slack, feedback) as bot:
        opened(bot, "U1")
        slack.wait_for("views.publish", 1)
        word = docx.Document()
        word.add_paragraph("The plan is to move the canteen to the second floor.")
        word.save(str(docs / "plan.docx"))
        assert engine.ingest([docs]).failed == 0
        opened(bot, "U1")
        slack.wait_for("views.publish", 2)
    before, after = (text_of(view) for view in views(slack, "U1"))
    assert "Failed files (1):" in before and f"• {escape(reported)}" in before
    assert "plan.docx" not in after and "Failed files" not in after and "2 documents" in after
    status = CliRunner().invoke(cli, ["status", "--store", str(tmp_path / "store")])
    assert status.exit_code == 0 and "Failed files" not in status.output
