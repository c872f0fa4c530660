"""Collections: one store folder holds several, each asked, cited and listed on its own (`--collection`).

Bad input tried: names with `/`, `..`, a dot (`hr.c`, the name a two-letter collection takes in Chroma),
a leading `-`, ending in -docs; a citation id of another collection (refused exactly as an unknown id).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.bot.test_cli import run
from tests.conftest import SEED_FILE, STOCKHOLM

SALARY = "What is the salary band for a senior engineer?"
HR_TEXT = "# Pay\n\nThe salary band for a senior engineer is 95,000 to 120,000 euros a year.\n"


@pytest.fixture(scope="module")
def two_collections(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store: the default collection holds the seed document, the `payroll` collection a pay note."""
    root = tmp_path_factory.mktemp("collections")
    (root / "general").mkdir()
    shutil.copy(SEED_FILE, root / "general" / SEED_FILE.name)
    (root / "payroll").mkdir()
    (root / "payroll" / "pay.md").write_text(HR_TEXT, encoding="utf-8")
    for folder, extra in (("general", ()), ("payroll", ("--collection", "payroll"))):
        result = run("ingest", root / folder, "--store", root / "store", *extra)
        assert result.exit_code == 0, result.output
    return root / "store"


def ask(store: Path, question: str, *extra: str) -> dict[str, Any]:
    """`ask --json` in a collection; the answer as data."""
    result = run("ask", "--json", question, "--store", store, *extra)
    assert result.exit_code == 0, result.output
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def test_each_collection_answers_only_from_its_own_files(two_collections: Path) -> None:
    """payroll's note is quoted in payroll, never in the default collection; the seed only outside payroll."""
    in_payroll = ask(two_collections, SALARY, "--collection", "payroll")
    assert {c["source"] for c in in_payroll["citations"]} == {"pay.md"}
    for question in (SALARY, STOCKHOLM):
        outside = ask(two_collections, question)
        assert "pay.md" not in {c["source"] for c in outside["citations"]}
    assert SEED_FILE.name in {c["source"] for c in ask(two_collections, STOCKHOLM)["citations"]}
    in_payroll_only = ask(two_collections, STOCKHOLM, "--collection", "payroll")
    assert SEED_FILE.name not in {c["source"] for c in in_payroll_only["citations"]}


def test_cite_never_opens_a_passage_of_another_collection(two_collections: Path) -> None:
    """A payroll citation is found in payroll; in the default collection it is refused as an unknown id."""
    citation = ask(two_collections, SALARY, "--collection", "payroll")["citations"][0]["id"]
    shown = run("cite", citation, "--store", two_collections, "--collection", "payroll")
    assert shown.exit_code == 0 and "95,000" in shown.output
    elsewhere = run("cite", citation, "--store", two_collections)
    unknown = run("cite", citation.replace("pay.md", "nothing.md"), "--store", two_collections)
    assert elsewhere.exit_code == unknown.exit_code == 2
    assert "95,000" not in elsewhere.output
    assert elsewhere.output.replace("pay.md", "X") == unknown.output.replace("nothing.md", "X")


def test_status_lists_every_collection(two_collections: Path) -> None:
    """`status` names both collections with their file counts and which one it describes."""
    result = run("status", "--json", "--store", two_collections, "--collection", "payroll")
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["collection"] == "payroll" and info["documents"] == 1
    assert info["collections"] == {"citebot": 1, "payroll": 1}
    text = run("status", "--store", two_collections).output
    assert "citebot (this one): 1 files" in text and "payroll: 1 files" in text


BAD_NAMES = ["payroll/../x", "..", "a/b", "payroll.g2", "hr.c", "pay-docs", "../../etc", "-x"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_invalid_collection_names_are_refused_before_anything_opens(tmp_path: Path, name: str) -> None:
    """A name that could be a path, or clash with citebot's own names, is a usage error (exit 2)."""
    for command in (["status"], ["ask", STOCKHOLM], ["ingest", tmp_path], ["cite", "a#0-1"], ["repl"]):
        result = run(*command, "--store", tmp_path / "store", "--collection", name)
        assert result.exit_code == 2, (command, result.output)
        assert "Invalid collection name" in result.output
        assert "Traceback" not in result.output
    assert not (tmp_path / "store").exists()


def test_repl_in_a_collection_answers_from_it(two_collections: Path) -> None:
    """A scoped REPL (piped lines) quotes payroll's note; the default REPL does not."""
    scoped = run("repl", "--json", "--store", two_collections, "--collection", "payroll", stdin=SALARY + "\n")
    assert scoped.exit_code == 0, scoped.output
    assert "pay.md" in scoped.output
    default = run("repl", "--json", "--store", two_collections, stdin=SALARY + "\n")
    assert default.exit_code == 0, default.output
    assert "pay.md" not in default.output


def test_a_two_letter_collection_as_in_a_scopes_file(tmp_path: Path) -> None:
    """`hr` (under Chroma's 3 characters) is stored as `hr.c`: ingested, rebuilt, asked and listed as `hr`."""
    (tmp_path / "hr").mkdir()
    (tmp_path / "hr" / "pay.md").write_text(HR_TEXT, encoding="utf-8")
    store = tmp_path / "store"
    for extra in ((), ("--rebuild",)):
        result = run("ingest", tmp_path / "hr", "--store", store, "--collection", "hr", *extra)
        assert result.exit_code == 0, result.output
    assert {c["source"] for c in ask(store, SALARY, "--collection", "hr")["citations"]} == {"pay.md"}
    info = json.loads(run("status", "--json", "--store", store, "--collection", "hr").stdout)
    assert info["collections"] == {"hr": 1} and info["generation"] == 1
