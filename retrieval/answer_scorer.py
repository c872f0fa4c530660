"""The learned answer scorer at run time: its shipped files checked, its network run, its score fused."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.candidates import Candidate
from retrieval.errors import ModelError

MODELS = Path(__file__).resolve().parent.parent / "models"
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
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(
                f"The answer scorer's file {path} is missing or unreadable ({exc}); {REBUILD}"
            ) from exc
        if not set(spec.features) <= set(FUSION_FEATURES) or len(spec.coef) != len(spec.features):
            raise ModelError(f"The answer scorer's file {path} names unknown fusion features; {REBUILD}")
        return spec


def sha256_of(path: Path) -> str:
    """The file's sha256 in hex."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_network(weights: Path, base_folder: Path) -> Any:
    """(ScorerNet, PairEncoder) from a weights file and the packaged model's embeddings and tokenizer."""
    from safetensors import SafetensorError, safe_open

    from retrieval.scorer_model import FROZEN, PairEncoder, ScorerNet

    try:
        with safe_open(str(weights), "pt") as handle:
            trained = {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118 (not a dict)
        with safe_open(str(base_folder / "model.safetensors"), "pt") as handle:
            base = {
                k.removeprefix("bert."): handle.get_tensor(k)
                for k in handle.keys()  # noqa: SIM118
                if k.removeprefix("bert.").startswith(FROZEN)
            }
        config = json.loads((base_folder / "config.json").read_text(encoding="utf-8"))
        return ScorerNet(base, trained, config), PairEncoder(base_folder / "tokenizer.json")
    except (OSError, SafetensorError, ValueError, KeyError, RuntimeError) as exc:
        raise ModelError(
            f"The answer scorer's weights {weights} cannot be loaded ({exc}); {REBUILD}"
        ) from exc


class AnswerScorer:
    """P(the sentence answers the question) for candidate sentences, in one batched forward pass."""

    def __init__(self, folder: Path, base_folder: Path) -> None:
        self.spec = ScorerSpec.read(folder)
        weights = folder / WEIGHTS_FILE
        if not weights.is_file():
            raise ModelError(f"The answer scorer's weights file {weights} is missing; {REBUILD}")
        if sha256_of(weights) != self.spec.sha256:
            raise ModelError(
                f"The answer scorer's weights file {weights} is corrupt (its sha256 is not the one in "
                f"{folder / SPEC_FILE}); {REBUILD}"
            )
        self.net, self.encoder = load_network(weights, base_folder)
        self.net.eval()
        self.threshold = self.spec.threshold

    def logits(self, question: str, found: Sequence[Candidate]) -> np.ndarray:
        """The network's logit for each candidate."""
        import torch

        from retrieval.scorer_model import Pair

        if not found:
            return np.zeros(0)
        pairs = [Pair(question, _sentence(c), context_of(c)) for c in found]
        with torch.inference_mode():
            return np.asarray(self.net(*self.encoder.encode(pairs)).double().numpy(), dtype=np.float64)

    def probabilities(
        self, question: str, found: Sequence[Candidate], handset: Sequence[float], top_dense: float
    ) -> np.ndarray:
        """The fused, calibrated probability for each candidate (found in hand-set order, best first)."""
        raw = self.logits(question, found)
        rows = [
            fusion_inputs(asdict(c.features), h, top_dense, order, float(z))
            for order, (c, h, z) in enumerate(zip(found, handset, raw, strict=True))
        ]
        chosen = [FUSION_FEATURES.index(name) for name in self.spec.features]
        x = np.asarray(rows, dtype=np.float64).reshape(len(rows), len(FUSION_FEATURES))[:, chosen]
        return np.asarray(
            1 / (1 + np.exp(-(x @ np.asarray(self.spec.coef) + self.spec.intercept))), dtype=np.float64
        )


def _sentence(c: Candidate) -> str:
    chunk = c.hit.chunk
    return chunk.text[c.start - chunk.start : c.end - chunk.start]
