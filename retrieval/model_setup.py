"""`citebot models`: every ONNX file built (once) and checked, and what runs on this CPU, in one report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from retrieval.answer.learned_scorer import WEIGHTS_FILE, built_scorer
from retrieval.inference.embedder import ROWS_PER_PASS, resolve_model_path
from retrieval.inference.encoder import built_encoder, fastest_variant, is_supported
from retrieval.inference.model_cache import VARIANTS, ModelCache, Notice, cpu_key


def prepare_models(
    model: str, cache_root: Path, scorer_folder: Path, threads: int, notice: Notice | None
) -> dict[str, Any]:
    """Build what is missing or corrupt (needs torch), check the rest by sha256, choose this CPU's variant."""
    cache = ModelCache(cache_root)
    folder = resolve_model_path(model)
    report: dict[str, Any] = {"cache": str(cache.root), "cpu": cpu_key()}
    if not is_supported(folder):
        report["encoder"] = {"model": str(folder), "runs_on": "sentence-transformers (torch): not a BERT"}
    else:
        for variant in VARIANTS:
            built, record = built_encoder(cache, folder, variant, notice)
        chosen = fastest_variant(cache, built, record, folder, ROWS_PER_PASS, threads)
        report["encoder"] = {
            "model": str(folder),
            "folder": str(built),
            "files": {v: (built / f"{v}.onnx").stat().st_size for v in VARIANTS},
            "chosen": chosen,
            "measured": record.get("speed", {}).get(cpu_key(), {}),
        }
    if (scorer_folder / WEIGHTS_FILE).is_file():
        built, _ = built_scorer(scorer_folder / WEIGHTS_FILE, resolve_model_path(""), cache, notice)
        report["scorer"] = {"folder": str(built), "files": {"fp32": (built / "fp32.onnx").stat().st_size}}
    return report
