"""The learned answer scorer at run time: its shipped files checked, its network run, its score fused."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.answer.candidates import Candidate
from retrieval.errors import ModelError
from retrieval.inference.encoder import is_packaged, providers, rows_per_run, session, unbuilt_reason
from retrieval.inference.model_cache import VARIANTS, ModelCache, Notice
from retrieval.inference.scorer_inputs import Pair, PairEncoder
from retrieval.package_files import shipped

MODELS = shipped("models")  # the checkout's models/, or the installed package's copy
WEIGHTS_FILE = "answer-scorer.safetensors"
SPEC_FILE = "answer-scorer.json"
REBUILD = "rebuild it with `make train-scorer`"
# The signals fused with the network's logit, in the order the fitted coefficients expect.
FUSION_FEATURES = ("logit", "handset", "support", "top_dense", "meaning", "passage", "order")


def fusion_inputs(
    features: Mapping[str, Any], handset: float, top_dense: float, order: int, logit: float
) -> list[float]:
    """One candidate's fusion inputs, in FUSION_FEATURES order (features: SentenceFeatures as a dict)."""
    support = max(float(features["coverage"]), float(features["query_coverage"]))
    return [logit, handset, support, top_dense, float(features["meaning"]), float(features["passage"]), order]


def log_odds(p: np.ndarray) -> np.ndarray:
    """log(p / (1 - p)), kept finite at 0 and 1."""
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.asarray(np.log(p / (1 - p)), dtype=np.float64)


def answer_confidence(best: np.ndarray, coef: float, intercept: float) -> np.ndarray:
    """P(the answer is right) from its best sentence's fused probability: a logistic on its log-odds."""
    return np.asarray(1 / (1 + np.exp(-(coef * log_odds(best) + intercept))), dtype=np.float64)


def context_of(c: Candidate) -> str:
    """What the scorer reads beside a sentence: its document's name and the sentence before it."""
    chunk = c.hit.chunk
    name = Path(chunk.source).stem.replace("_", " ").replace("-", " ")
    before = [chunk.text[s:e] for s, e in chunk.sentence_spans() if chunk.start + e <= c.start]
    return f"{name}: {before[-1]}" if before else name


@dataclass(frozen=True)
class ScorerSpec:
    """What the shipped JSON says of the weights file: its hash, its shape, the fusion and the threshold."""

    sha256: str
    layers: int
    features: tuple[str, ...]
    coef: tuple[float, ...]
    intercept: float
    threshold: float
    # The best sentence's fused probability -> P(the answer is right): a logistic on its log-odds, fitted
    # on the calibration articles' questions (training/calibrate.py, fit_answer_confidence).
    confidence_coef: float
    confidence_intercept: float

    def fuse(self, rows: Sequence[Sequence[float]]) -> np.ndarray:
        """The fused probability of each row of fusion inputs (in FUSION_FEATURES order)."""
        chosen = [FUSION_FEATURES.index(name) for name in self.features]
        x = np.asarray(rows, dtype=np.float64).reshape(len(rows), len(FUSION_FEATURES))[:, chosen]
        return np.asarray(1 / (1 + np.exp(-(x @ np.asarray(self.coef) + self.intercept))), dtype=np.float64)

    def confidence(self, best: np.ndarray) -> np.ndarray:
        """The confidence an answer shows for its best sentence's fused probability (fitted per answer)."""
        return answer_confidence(best, self.confidence_coef, self.confidence_intercept)

    @staticmethod
    def read(folder: Path) -> ScorerSpec:
        """The spec beside the weights; a missing or unreadable one is a ModelError naming it."""
        path = folder / SPEC_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            fusion = data["fusion"]
            spec = ScorerSpec(
                str(data["weights_sha256"]),
                int(data["layers"]),
                tuple(fusion["features"]),
                tuple(float(c) for c in fusion["coef"]),
                float(fusion["intercept"]),
                float(data["threshold"]),
                float(data["confidence"]["coef"]),
                float(data["confidence"]["intercept"]),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(
                f"The answer scorer's file {path} is missing or unreadable ({exc}); {REBUILD}"
            ) from exc
        if not set(spec.features) <= set(FUSION_FEATURES) or len(spec.coef) != len(spec.features):
            raise ModelError(f"The answer scorer's file {path} names unknown fusion features; {REBUILD}")
        return spec


KIND = "scorer"
# int8, one pair at a time (its activations are quantized per run, so a pair alone never depends on its
# neighbours). Measured on 300 calibration pools of 8 (Intel Xeon, AVX-512, one thread): 38 ms a pool
# against fp32's 125 ms in one batch; its logits correlate 0.993 with fp32's, pick the same best sentence in
# 94% of pools, and rank as well (network top-1 0.693 against 0.687). The fusion is fitted on its logits.
VARIANT = "int8"


def built_scorer(
    weights: Path, base_folder: Path, cache: ModelCache, notice: Notice | None, variant: str = VARIANT
) -> tuple[Path, dict[str, Any]]:
    """The cache folder holding the scorer's ONNX file (exported from the shipped weights if not yet)."""

    def build(folder: Path) -> list[str]:
        from retrieval.inference.export import build_scorer

        return build_scorer(weights, base_folder, folder, is_packaged(base_folder))

    def check() -> None:
        from retrieval.inference.export import check_weights

        check_weights((weights, False), (base_folder / "model.safetensors", is_packaged(base_folder)))

    # The ONNX file holds the shipped layers and the packaged model's frozen embeddings: both name it.
    trained = cache.source_sha256(weights)
    base = cache.source_sha256(base_folder / "model.safetensors")
    source = hashlib.sha256(f"{trained}+{base}".encode()).hexdigest()
    return cache.built(KIND, source, VARIANTS, build, variant, notice, check)


class ScorerNetwork:
    """The scorer's network run by onnxruntime: (question, sentence, context) -> logit."""

    def __init__(
        self,
        weights: Path,
        base_folder: Path,
        cache: ModelCache,
        device: str = "cpu",
        threads: int = 1,
        notice: Notice | None = None,
        variant: str = VARIANT,
    ) -> None:
        built, record = built_scorer(weights, base_folder, cache, notice, variant)
        missing = unbuilt_reason(record, variant)
        if missing is not None:
            # fp32's logits correlate 0.993 with int8's (the fusion was fitted on int8's): a near answer
            # rather than none where onnxruntime cannot quantize.
            if notice:
                notice(f"The answer scorer runs fp32, not {variant}: {missing}")
            variant = "fp32"
            built, _ = built_scorer(weights, base_folder, cache, notice, variant)  # its sha256 checked
        self.variant = variant
        self.session = session(built / f"{variant}.onnx", threads, providers(device))
        try:
            self.encoder = PairEncoder(base_folder / "tokenizer.json")
        except (OSError, ValueError) as exc:
            raise ModelError(f"Cannot read the tokenizer in {base_folder}: {exc}") from exc

    def pair_logits(self, pairs: Sequence[Pair]) -> np.ndarray:
        """The network's logit for each (question, sentence, context); int8 runs one pair at a time."""
        if not pairs:
            return np.zeros(0)
        step = rows_per_run(self.variant, len(pairs))
        out = [self._run(pairs[begin : begin + step]) for begin in range(0, len(pairs), step)]
        return np.concatenate(out).astype(np.float64)

    def _run(self, pairs: Sequence[Pair]) -> np.ndarray:
        ids, types, mask = self.encoder.encode(pairs)
        feed = {"input_ids": ids, "token_type_ids": types, "attention_mask": mask}
        return np.asarray(self.session.run(None, feed)[0]).reshape(len(pairs))


class AnswerScorer:
    """P(the sentence answers the question) for candidate sentences: the shipped network, fused."""

    def __init__(
        self,
        folder: Path,
        base_folder: Path,
        cache: Path,
        device: str = "cpu",
        threads: int = 1,
        notice: Notice | None = None,
        variant: str = VARIANT,
    ) -> None:
        """variant: which of VARIANTS runs (the fusion and threshold were fitted on VARIANT's logits)."""
        self.spec = ScorerSpec.read(folder)
        weights = folder / WEIGHTS_FILE
        if not weights.is_file():
            raise ModelError(f"The answer scorer's weights file {weights} is missing; {REBUILD}")
        models = ModelCache(cache)
        if models.source_sha256(weights) != self.spec.sha256:
            raise ModelError(
                f"The answer scorer's weights file {weights} is corrupt (its sha256 is not the one in "
                f"{folder / SPEC_FILE}); {REBUILD}"
            )
        self.network = ScorerNetwork(weights, base_folder, models, device, threads, notice, variant)
        # Abstain under this confidence: the fitted threshold, read as the confidence it gives an answer.
        self.threshold = self.confidence(self.spec.threshold)

    def confidence(self, best: float) -> float:
        """How likely an answer is right, from its best sentence's fused probability (fitted per answer)."""
        return float(self.spec.confidence(np.array([best]))[0])

    @property
    def variant(self) -> str:
        """Which ONNX variant runs."""
        return self.network.variant

    def logits(self, question: str, found: Sequence[Candidate]) -> np.ndarray:
        """The network's logit for each candidate."""
        return self.pair_logits([Pair(question, _sentence(c), context_of(c)) for c in found])

    def pair_logits(self, pairs: Sequence[Pair]) -> np.ndarray:
        """The network's logit for each (question, sentence, context)."""
        return self.network.pair_logits(pairs)

    def probabilities(
        self, question: str, found: Sequence[Candidate], handset: Sequence[float], top_dense: float
    ) -> np.ndarray:
        """The fused, calibrated probability for each candidate (found in hand-set order, best first)."""
        raw = self.logits(question, found)
        return self.spec.fuse(
            [
                fusion_inputs(asdict(c.features), h, top_dense, order, float(z))
                for order, (c, h, z) in enumerate(zip(found, handset, raw, strict=True))
            ]
        )


def _sentence(c: Candidate) -> str:
    chunk = c.hit.chunk
    return chunk.text[c.start - chunk.start : c.end - chunk.start]
