"""Training pairs/s (forward + backward + step) of the hand-written scorer layers and of a CrossEncoder."""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from collections.abc import Callable
from pathlib import Path

import torch

from evaluation.machine import describe
from retrieval.inference.embedder import resolve_model_path
from retrieval.inference.scorer_inputs import (
    CONTEXT_TOKENS,
    QUESTION_TOKENS,
    SENTENCE_TOKENS,
    Pair,
    PairEncoder,
)
from retrieval.inference.scorer_net import ScorerNet, as_tensors, initial_weights, read_base
from retrieval.text.sentences import sentence_spans
from training.train import BATCH, LEARNING_RATE

ROOT = Path(__file__).resolve().parent.parent
# The scorer's window: [CLS] question [SEP] sentence [SEP] context [SEP].
WINDOW = QUESTION_TOKENS + SENTENCE_TOKENS + CONTEXT_TOKENS + 4
Step = Callable[[list[Pair]], None]
VARIANTS = ("cross_encoder", "cross_encoder_frozen", "cross_encoder_same_input")


def sample_pairs(squad_file: Path, count: int, seed: int) -> list[Pair]:
    """Real-length pairs: a question, one sentence of its paragraph and that sentence's context."""
    found: list[Pair] = []
    for article in json.loads(squad_file.read_text(encoding="utf-8"))["data"]:
        for paragraph in article["paragraphs"]:
            text = paragraph["context"]
            spans = sentence_spans(text, 0, len(text))
            for qa in paragraph["qas"]:
                n = len(found) % len(spans)
                before = text[spans[n - 1][0] : spans[n - 1][1]] if n else ""
                name = article["title"].replace("_", " ")
                context = f"{name}: {before}" if before else name
                found.append(Pair(qa["question"], text[spans[n][0] : spans[n][1]], context))
    return random.Random(seed).sample(found, count)


def handwritten_step(base_folder: Path, layers: int) -> Step:
    """One step of training/train.py's loop on ScorerNet (frozen embeddings, mean pooling)."""
    config = json.loads((base_folder / "config.json").read_text(encoding="utf-8"))
    base = read_base(base_folder)
    net = ScorerNet(base, initial_weights(base, layers, 13), config)
    encoder = PairEncoder(base_folder / "tokenizer.json")
    optimiser = torch.optim.AdamW(net.parameters(), lr=LEARNING_RATE)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    net.train()

    def step(batch: list[Pair]) -> None:
        logit = net(*as_tensors(encoder.encode(batch)))
        loss = loss_fn(logit, torch.zeros(len(batch)))
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        optimiser.step()

    return step


def cross_encoder_step(
    base_folder: Path, layers: int, frozen: bool = False, same_input: bool = False
) -> Step:
    """One step on sentence-transformers' CrossEncoder (BertForSequenceClassification, num_labels=1);
    frozen: its embeddings not trained (as ScorerNet's are not); same_input: fed PairEncoder's rows (the
    scorer's per-part token budgets) instead of its own tokenizer's pair truncated to WINDOW."""
    from sentence_transformers import CrossEncoder

    model = CrossEncoder(str(base_folder), num_labels=1, max_length=WINDOW, device="cpu")
    inner = model.model
    bert = inner.base_model
    bert.encoder.layer = bert.encoder.layer[:layers]
    inner.config.num_hidden_layers = layers
    if frozen:
        bert.embeddings.requires_grad_(False)
    tokenizer = model.tokenizer
    optimiser = torch.optim.AdamW([p for p in inner.parameters() if p.requires_grad], lr=LEARNING_RATE)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    inner.train()

    encoder = PairEncoder(base_folder / "tokenizer.json")

    def step(batch: list[Pair]) -> None:
        if same_input:
            ids, types, mask = as_tensors(encoder.encode(batch))
            features = {"input_ids": ids, "token_type_ids": types, "attention_mask": mask.long()}
        else:
            features = tokenizer(
                [p.question for p in batch],
                [f"{p.sentence} [SEP] {p.context}" for p in batch],
                padding=True,
                truncation="longest_first",
                max_length=WINDOW,
                return_tensors="pt",
            )
        logit = inner(**features).logits[:, 0]
        loss = loss_fn(logit, torch.zeros(len(batch)))
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(inner.parameters(), 1.0)
        optimiser.step()

    return step


def pairs_per_second(step: Step, pairs: list[Pair]) -> tuple[float, float]:
    """Pairs per second of wall time and per second of this process's CPU time (all its threads), over
    every batch of pairs after one warm-up batch: on a shared machine the second says what a core gives."""
    step(pairs[:BATCH])
    began, cpu = time.perf_counter(), time.process_time()
    for begin in range(0, len(pairs), BATCH):
        step(pairs[begin : begin + BATCH])
    return len(pairs) / (time.perf_counter() - began), len(pairs) / (time.process_time() - cpu)


def main() -> None:
    """Measure each (library, layers) in turn and print one JSON line each."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--layers", type=int, nargs="+", default=[3, 4, 6])
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", choices=["handwritten", *VARIANTS], nargs="+", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(13)
    base = resolve_model_path("")
    pairs = sample_pairs(args.data / "train" / "squadshifts" / "new_wiki_v1.0.json", args.pairs, 13)
    print(json.dumps({"machine": describe(), "threads": args.threads, "window": WINDOW, "batch": BATCH}))
    makers: dict[str, Callable[[Path, int], Step]] = {
        "handwritten": handwritten_step,
        "cross_encoder": cross_encoder_step,
        "cross_encoder_frozen": lambda base, layers: cross_encoder_step(base, layers, frozen=True),
        "cross_encoder_same_input": lambda base, layers: cross_encoder_step(base, layers, same_input=True),
    }
    for name, make in makers.items():
        if args.only and name not in args.only:
            continue
        for layers in args.layers:
            load = os.getloadavg()[0]
            wall, cpu = pairs_per_second(make(base, layers), pairs)
            figures = {
                "pairs_per_s": round(wall, 2),
                "pairs_per_cpu_s": round(cpu, 2),
                "load1": round(load, 2),
            }
            print(json.dumps({"library": name, "layers": layers, **figures}), flush=True)


if __name__ == "__main__":
    main()
