"""Where the store is found, collections made by ingest only, same-named files, docs / forget / --drop.

Bad input tried: a command in a folder with no store anywhere above it; a `.citebot` found upward that is a
file and one that is damaged (named, never replaced); a mistyped --collection; `forget` of a path not
indexed, of a path outside every folder ingested, and while another writer holds the lock; --drop without
--yes and of an unknown collection; two folders with many same-named files.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bot.cli import cli
from retrieval.store.writer_lock import writer_lock
from tests.conftest import SEEDS

NO_STORE = "Error: No citebot store found (no .citebot in the current folder or above it"


def run(*args: str | Path, cwd: Path | None = None) -> Result:
    """citebot in process, from cwd (the store is found from the current folder)."""
    old = Path.cwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        return CliRunner().invoke(cli, [str(a) for a in args])
    finally:
        os.chdir(old)


def notes(folder: Path, text: str, name: str = "notes.md") -> Path:
    """A small markdown file in folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return folder / name


def test_ask_with_no_store_anywhere_says_so_and_ingests_nothing(tmp_path: Path) -> None:
    work = tmp_path / "project" / "sub"
    work.mkdir(parents=True)
    result = run("ask", "What did the US offer in Stockholm?", cwd=work)
    assert result.exit_code == 2
    assert result.output.startswith(NO_STORE)
    assert "run `citebot ingest FOLDER` to make one" in result.output
    assert not (work / ".citebot").exists()
    assert not (tmp_path / "home" / ".local" / "share" / "citebot").exists()
    for command in (["status"], ["docs"], ["collections"]):
        listed = run(*command, cwd=work)
        assert listed.exit_code == 2, (command, listed.output)
        assert listed.output.startswith(NO_STORE), command


def test_store_found_upward_and_said_by_status(tmp_path: Path) -> None:
    project = tmp_path / "project"
    assert run("ingest", "--store", project / ".citebot", SEEDS).exit_code == 0
    below = project / "a" / "b"
    below.mkdir(parents=True)
    status = run("status", cwd=below)
    assert status.exit_code == 0, status.output
    assert f"Store:         {project / '.citebot'} (collection citebot)" in status.output
    assert "Chosen as:     the nearest .citebot from the current folder upward" in status.output
    asked = run("-v", "ask", "--json", "What did the US offer in Stockholm?", cwd=below)
    assert asked.exit_code == 0, asked.output
    assert f"Store: {project / '.citebot'} (the nearest .citebot" in asked.stderr


def test_per_user_store_when_none_is_found(tmp_path: Path) -> None:
    work = tmp_path / "anywhere"
    work.mkdir()
    assert run("ingest", SEEDS, cwd=work).exit_code == 0
    user_store = tmp_path / "home" / ".local" / "share" / "citebot" / "store"
    assert (user_store / "citebot-store.json").is_file()
    status = json.loads(run("status", "--json", cwd=work).stdout)
    assert status["store_origin"].startswith("the per-user store")


def test_a_citebot_file_found_upward_is_refused(tmp_path: Path) -> None:
    (tmp_path / ".citebot").write_text("not a store", encoding="utf-8")
    work = tmp_path / "sub"
    work.mkdir()
    result = run("ingest", SEEDS, cwd=work)
    assert result.exit_code == 2
    assert "is a file, not a store folder" in result.output
    assert (tmp_path / ".citebot").read_text(encoding="utf-8") == "not a store"


def test_a_damaged_store_found_upward_is_named_never_replaced(tmp_path: Path) -> None:
    store = tmp_path / ".citebot"
    assert run("ingest", "--store", store, SEEDS).exit_code == 0
    (store / "citebot-store.json").write_text("{broken", encoding="utf-8")
    result = run("ask", "What did the US offer in Stockholm?", cwd=tmp_path)
    assert result.exit_code == 1
    assert f"{store} is damaged" in result.output
    assert (store / "citebot-store.json").read_text(encoding="utf-8") == "{broken"


def test_unknown_collection_exits_2_and_lists_the_store_s(tmp_path: Path) -> None:
    store = tmp_path / "s"
    assert run("ingest", "--store", store, SEEDS).exit_code == 0
    assert run("ingest", "--store", store, "--collection", "hr", SEEDS).exit_code == 0
    for command in (["ask", "x"], ["status"], ["docs"], ["cite", "a.txt#0-1"], ["forget", "a.txt"]):
        result = run(*command, "--store", store, "--collection", "hrr")
        assert result.exit_code == 2, (command, result.output)
        assert "has no collection 'hrr' (it has: citebot, hr)" in result.output
    assert json.loads(run("collections", "--json", "--store", store).stdout) == {"citebot": 1, "hr": 1}


def test_same_names_in_two_folders_all_indexed_with_stable_ids(tmp_path: Path) -> None:
    store = tmp_path / "s"
    for i in range(1000):
        notes(tmp_path / "docs-a", f"Alpha item {i} costs {i} dollars.", f"n{i}.md")
        notes(tmp_path / "docs-b", f"Beta item {i} ships in week {i}.", f"n{i}.md")
    result = run("ingest", "--json", "--store", store, tmp_path / "docs-a", tmp_path / "docs-b")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["added"] == 2000
    listed = [json.loads(line) for line in run("docs", "--json", "--store", store).stdout.splitlines()]
    names = {d["source"] for d in listed}
    assert len(names) == 2000
    assert "n7.md" in names and "docs-b/n7.md" in names
    by_name = {d["source"]: d["path"] for d in listed}
    assert by_name["n7.md"] == str(tmp_path / "docs-a" / "n7.md")
    # Ingested again in the other order: every file keeps the name it was given.
    again = run("ingest", "--json", "--store", store, tmp_path / "docs-b", tmp_path / "docs-a")
    assert json.loads(again.stdout)["unchanged"] == 2000
    relisted = {
        json.loads(line)["source"] for line in run("docs", "--json", "--store", store).stdout.splitlines()
    }
    assert relisted == names


def test_docs_lists_and_marks_a_changed_file_stale(tmp_path: Path) -> None:
    store = tmp_path / "s"
    note = notes(tmp_path / "docs", "The budget is five dollars.")
    assert run("ingest", "--store", store, tmp_path / "docs").exit_code == 0
    listed = json.loads(run("docs", "--json", "--store", store).stdout)
    assert listed["source"] == "notes.md" and listed["format"] == "md" and listed["chunks"] == 1
    assert listed["stale"] is False
    note.write_text("The budget is six dollars.", encoding="utf-8")
    assert "STALE" in run("docs", "--store", store).stdout


def test_forget_removes_a_document_and_refuses_what_is_not_indexed(tmp_path: Path) -> None:
    store = tmp_path / "s"
    docs = tmp_path / "docs"
    notes(docs, "The launch is in May.")
    notes(docs, "The budget is five dollars.", "budget.md")
    assert run("ingest", "--store", store, docs).exit_code == 0
    missing = run("forget", "--store", store, docs / "nothing.md")
    assert missing.exit_code == 2
    assert "is not indexed in this collection" in missing.output
    outside = run("forget", "--store", store, tmp_path / "elsewhere.md")
    assert outside.exit_code == 2
    assert "outside every folder ingested" in outside.output
    with writer_lock(store, "citebot"):
        busy = run("forget", "--store", store, docs / "notes.md")
    assert busy.exit_code == 2, busy.output
    assert len(run("docs", "--json", "--store", store).stdout.splitlines()) == 2
    gone = run("forget", "--store", store, docs / "notes.md")
    assert gone.exit_code == 0, gone.output
    assert gone.stdout == "forgot notes.md\n1 document removed from the index.\n"
    left = [
        json.loads(line)["source"] for line in run("docs", "--json", "--store", store).stdout.splitlines()
    ]
    assert left == ["budget.md"]
    answer = json.loads(run("ask", "--json", "--store", store, "When is the launch?").stdout)
    assert all(c["source"] != "notes.md" for c in answer["citations"])
    assert (docs / "notes.md").is_file()  # the file itself stays


def test_forget_everything_leaves_a_store_that_opens(tmp_path: Path) -> None:
    store = tmp_path / "s"
    notes(tmp_path / "docs", "The launch is in May.")
    assert run("ingest", "--store", store, tmp_path / "docs").exit_code == 0
    assert run("forget", "--store", store, tmp_path / "docs").exit_code == 0
    status = run("status", "--json", "--store", store)
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout)["documents"] == 0


def test_drop_needs_yes_and_an_existing_collection(tmp_path: Path) -> None:
    store = tmp_path / "s"
    assert run("ingest", "--store", store, SEEDS).exit_code == 0
    assert run("ingest", "--store", store, "--collection", "hr", SEEDS).exit_code == 0
    unconfirmed = run("collections", "--store", store, "--drop", "hr")
    assert unconfirmed.exit_code == 2
    assert "add --yes to confirm" in unconfirmed.output
    unknown = run("collections", "--store", store, "--drop", "nope", "--yes")
    assert unknown.exit_code == 2
    assert "has no collection 'nope'" in unknown.output
    dropped = run("collections", "--store", store, "--drop", "hr", "--yes")
    assert dropped.exit_code == 0, dropped.output
    assert dropped.stdout == "Dropped the collection hr (1 document).\n"
    assert json.loads(run("collections", "--json", "--store", store).stdout) == {"citebot": 1}
    asked = run("ask", "--store", store, "--collection", "hr", "What did the US offer?")
    assert asked.exit_code == 2
    assert "has no collection 'hr'" in asked.output
    # The other collection still answers.
    assert run("ask", "--store", store, "What did the US offer in Stockholm?").exit_code == 0


@pytest.mark.slow
def test_dropping_the_collection_a_running_engine_reads(tmp_path: Path) -> None:
    from bot.engines import engine_to_read
    from bot.settings import load_settings
    from retrieval.catalog import drop_collection
    from retrieval.errors import CitebotError

    store = tmp_path / "s"
    assert run("ingest", "--store", store, "--collection", "hr", SEEDS).exit_code == 0
    settings = load_settings(store=store, collection="hr")
    engine = engine_to_read(settings)
    assert engine.ask("What did the US offer in Stockholm?").citations
    drop_collection(settings.engine_config().location)
    with pytest.raises(CitebotError) as caught:
        engine.ask("What did the US offer in Stockholm?")
    assert "hr" in str(caught.value)


def test_one_collection_s_ingest_keeps_the_texts_another_cites(tmp_path: Path) -> None:
    """Bad input: two collections in one store folder, one holding an extracted document (a PDF)."""
    from tests.helpers.document_files import pdf_file

    store = tmp_path / "s"
    pdf_folder = tmp_path / "pdfs"
    pdf_folder.mkdir()
    pdf_file(pdf_folder / "report.pdf", [["The quarterly report says revenue rose by nine percent."]])
    assert run("ingest", "--store", store, "--collection", "reports", pdf_folder).exit_code == 0
    notes(tmp_path / "docs", "The launch is in May.")
    assert run("ingest", "--store", store, tmp_path / "docs").exit_code == 0
    answer = json.loads(
        run("ask", "--json", "--store", store, "--collection", "reports", "How much did revenue rise?").stdout
    )
    citation = answer["citations"][0]
    text = Path(citation["text_path"]).read_text(encoding="utf-8")
    assert text[citation["start"] : citation["end"]] == citation["quote"]
    cited = run("cite", "--store", store, "--collection", "reports", citation["id"])
    assert cited.exit_code == 0, cited.output
