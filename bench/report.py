"""Writing results: a Markdown section of BENCHMARKS.md and a PNG of quality against latency."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

ROWS = [
    ("SQuAD passage hit@1", "squad", "passage_hit@1"),
    ("SQuAD passage hit@5", "squad", "passage_hit@5"),
    ("SQuAD citation hit@1", "squad", "citation_hit@1"),
    ("SQuAD answer-sentence accuracy", "squad", "answer_sentence_accuracy"),
    ("SQuAD answered rate", "squad", "answered_rate"),
    ("SQuAD right when answered", "squad", "right_when_answered"),
    ("citations verified (quote == text[start:end])", "squad", "citations_verified"),
    ("out-of-corpus questions abstained (articles not in the store)", "out_of_corpus", "abstained_rate"),
    ("SQuAD 2.0 unanswerable questions abstained", "unanswerable", "abstained_rate"),
    ("out-of-corpus claims abstained (SciFact claims on SQuAD)", "abstention", "abstained_rate"),
    ("SciFact nDCG@10", "scifact", "ndcg@10"),
    ("SciFact recall@100", "scifact", "recall@100"),
    ("warm answer p50 (ms)", "squad", "answer_ms_p50"),
    ("warm answer p95 (ms)", "squad", "answer_ms_p95"),
    ("ingest chars/s (SQuAD)", "squad_ingest", "ingest_chars_per_s"),
    ("ingest chunks/s (SQuAD)", "squad_ingest", "ingest_chunks_per_s"),
    ("ingest chars/s (SciFact)", "scifact_ingest", "ingest_chars_per_s"),
    ("cold start to first answer (s)", "cold", "cold_start_s"),
    ("peak RSS of that process (MB)", "cold", "peak_rss_mb"),
]
ORDER = ["citebot", "citebot + scorer", "bm25 only", "dense only", "dense only, fp32", "textbook"]


def _value(results: dict[str, Any], system: str, group: str, key: str) -> Any:
    return results["systems"].get(system, {}).get(group, {}).get(key)


def table(results: dict[str, Any]) -> str:
    """Every figure, systems side by side, with citebot's ratio to the textbook pipeline."""
    names = [n for n in ORDER if n in results["systems"]]
    lines = ["| measure | " + " | ".join(names) + " | citebot / textbook |", "|---" * (len(names) + 2) + "|"]
    for label, group, key in ROWS:
        values = [_value(results, n, group, key) for n in names]
        ours, theirs = _value(results, "citebot", group, key), _value(results, "textbook", group, key)
        ratio = f"{ours / theirs:.2f}x" if isinstance(ours, int | float) and theirs else "-"
        cells = ["-" if v is None else str(v) for v in values]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {ratio} |")
    return "\n".join(lines)


def write_markdown(results: dict[str, Any], path: Path, chart: str) -> None:
    """Replace (or add) this run's section of BENCHMARKS.md."""
    name = "quick" if results["quick"] else "full"
    section = "\n".join(
        [
            f"<!-- bench:{name}:start -->",
            f"### {'Quick sample' if results['quick'] else 'Full run'}: `{results['command']}`",
            "",
            f"Machine: {results['machine']}. Date: {results['date']}. Took {results['seconds']} s. "
            f"SQuAD questions: {results['systems']['citebot']['squad']['questions']}, about the "
            f"{results['test_articles']} articles the answer scorer never saw (trained on "
            f"{results['seen_articles']} others, which stay in the store); "
            f"out-of-corpus: the same questions asked of a store without their articles; "
            f"SciFact: {results['scifact_documents']} documents, "
            f"{results['systems']['citebot']['scifact']['claims']} claims.",
            "",
            table(results),
            "",
            "`citebot + scorer` is citebot as it runs by default, with the learned answer scorer on; "
            "`citebot` is the hand-set answerer alone (CITEBOT_SCORER=off). The ablations (BM25 only, "
            "dense only) run after citebot on the same index and "
            "reuse its question vectors, so their latency leaves out embedding the question. The textbook "
            "pipeline never abstains, so the two abstention rows beside it are not run (-); nor are the "
            "abstention rows for the ablations, whose answerer is citebot's. Ratios are "
            "citebot's figure divided by the textbook pipeline's.",
            "",
            f"![quality against latency]({chart})",
            f"<!-- bench:{name}:end -->",
        ]
    )
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"<!-- bench:{name}:start -->.*?<!-- bench:{name}:end -->", re.DOTALL)
    text = (
        pattern.sub(lambda _: section, text)
        if pattern.search(text)
        else text.rstrip() + "\n\n" + section + "\n"
    )
    path.write_text(text, encoding="utf-8")


def write_chart(results: dict[str, Any], path: Path) -> None:
    """Quality against latency per system: SQuAD passage hit@1 and SciFact nDCG@10 against answer p50."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for axis, (group, key, title) in zip(
        axes,
        [("squad", "passage_hit@1", "SQuAD passage hit@1"), ("scifact", "ndcg@10", "SciFact nDCG@10")],
        strict=True,
    ):
        for name in ORDER:
            quality = _value(results, name, group, key)
            latency = _value(results, name, group, "answer_ms_p50" if group == "squad" else "rank_ms_p50")
            if quality is None or latency is None:
                continue
            axis.scatter([latency], [quality], s=60)
            axis.annotate(name, (latency, quality), textcoords="offset points", xytext=(6, 4))
        axis.set_xlabel("p50 latency (ms)")
        axis.set_ylabel(title)
        axis.set_title(title)
        axis.grid(alpha=0.3)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
