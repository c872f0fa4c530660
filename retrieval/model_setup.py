"""`citebot models`: every ONNX file built (once) and checked, and what runs on this CPU, in one report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from retrieval.answer.learned_scorer import VARIANT, WEIGHTS_FILE, built_scorer
from retrieval.errors import ModelError
from retrieval.inference.embedder import ROWS_PER_PASS, resolve_model_path
from retrieval.inference.encoder import (
    built_encoder,
    fastest_variant,
    is_packaged,
    is_supported,
    unbuilt_reason,
)
from retrieval.inference.model_cache import (
    VARIANTS,
    ModelCache,
    Notice,
    built_variants,
    cpu_key,
    weights_file,
)


def prepare_models(
    model: str, cache_root: Path, scorer_folder: Path, threads: int, notice: Notice | None
) -> dict[str, Any]:
    """Build what is missing or corrupt (numpy and onnx; no torch), check the rest by sha256, choose this
    CPU's variant (the fastest that keeps the retrieval probe's hit@1; encoder.fastest_variant)."""
    cache = ModelCache(cache_root)
    folder = resolve_model_path(model)
    report: dict[str, Any] = {"cache": str(cache.root), "cpu": cpu_key()}
    if not is_supported(folder):
        if is_packaged(folder):
            from retrieval.inference.export import REINSTALL

            raise ModelError(f"The packaged model in {folder} is incomplete; reinstall it: {REINSTALL}")
        report["encoder"] = {"model": str(folder), "runs_on": "sentence-transformers (torch): not a BERT"}
    else:
        for variant in VARIANTS:
            built, record = built_encoder(cache, folder, variant, notice)
        chosen = fastest_variant(cache, built, record, folder, ROWS_PER_PASS, threads, notice)
        present = built_variants(record)
        report["encoder"] = {
            "model": str(folder),
            "folder": str(built),
            "files": {v: graph_size(built / f"{v}.onnx") for v in present},
            "unbuilt": {v: unbuilt_reason(record, v) for v in VARIANTS if v not in present},
            "chosen": chosen,
            "measured": record.get("speed", {}).get(cpu_key(), {}),
        }
    if (scorer_folder / WEIGHTS_FILE).is_file():
        base = resolve_model_path("")
        built, record = built_scorer(scorer_folder / WEIGHTS_FILE, base, cache, notice)
        runs = VARIANT if VARIANT in built_variants(record) else "fp32"
        if runs != VARIANT and notice:
            notice(f"The answer scorer runs fp32, not {VARIANT}: {unbuilt_reason(record, VARIANT)}")
        report["scorer"] = {
            "folder": str(built),
            "files": {v: graph_size(built / f"{v}.onnx") for v in built_variants(record)},
            "runs": runs,
        }
    return report


def graph_size(graph: Path) -> int:
    """The bytes of one built variant: its graph and its weights."""
    return graph.stat().st_size + weights_file(graph).stat().st_size
