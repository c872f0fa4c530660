"""Fine-tune the scorer network on the training articles' examples (binary cross-entropy, fixed seed)."""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors.torch import save_file

from evaluation.machine import describe
from retrieval.inference.scorer_inputs import Pair, PairEncoder
from retrieval.inference.scorer_net import ScorerNet, as_tensors, initial_weights, read_base
from training.checkpoint import EVERY, plan_key, read_checkpoint, write_checkpoint
from training.examples import TRAIN_POOL, Row, trains_on

BATCH = 32
# 8e-5 with 10% warm-up, near the top of the usual range for fine-tuning MiniLM-sized encoders (2e-5..1e-4):
# two epochs of ~37k pairs (2,461 steps) are what fit these 2 cores in half an hour, so few steps must go far.
# The fresh classifier starts from nothing and takes 1e-3.
LEARNING_RATE = 8e-5
HEAD_LEARNING_RATE = 1e-3
WARMUP = 0.1
WEIGHT_DECAY = 0.01
# The listwise loss's weight beside the pointwise one (which keeps the logit a calibratable log-odds).
# Measured by quarter-epoch pilots (3 layers, network top-1 on the calibration articles' answerable pools):
# pointwise alone 0.42, listwise alone 0.50, both at weight 1 0.54. Other weights were not tried.
LISTWISE = 1.0


def questions(rows: list[Row]) -> list[list[Row]]:
    """The rows grouped by question (kind and id), in the order they first appear."""
    groups: dict[tuple[str, str], list[Row]] = {}
    for r in rows:
        groups.setdefault((r["kind"], r["qid"]), []).append(r)
    return list(groups.values())


def batches(rows: list[Row], seed: int) -> list[list[Row]]:
    """Shuffled batches of whole questions (about BATCH rows each), so each batch can rank within a pool."""
    groups = questions(rows)
    random.Random(seed).shuffle(groups)
    # Questions of similar length side by side (less padding), within blocks of about 50 batches.
    span = max(1, BATCH * 50 // 8)
    for begin in range(0, len(groups), span):
        groups[begin : begin + span] = sorted(groups[begin : begin + span], key=_longest)
    out: list[list[Row]] = []
    batch: list[Row] = []
    for group in groups:
        if batch and len(batch) + len(group) > BATCH:
            out.append(batch)
            batch = []
        batch = batch + group
    if batch:
        out.append(batch)
    random.Random(seed + 1).shuffle(out)
    return out


def _longest(group: list[Row]) -> int:
    return max(len(r["question"]) + len(r["sentence"]) + len(r["context"]) for r in group)


def pool_loss(logit: torch.Tensor, batch: list[Row]) -> torch.Tensor:
    """Listwise loss: for each answerable pool with a positive and a negative, minus the log of the share of
    its softmax that falls on its positives (the network learns to rank inside a pool, which is how it is
    used; the pointwise loss alone ranked below the hand-set score: 0.61 against 0.74)."""
    terms: list[torch.Tensor] = []
    begin = 0
    for group in _runs(batch):
        z = logit[begin : begin + len(group)]
        positive = torch.tensor([r["label"] == 1 for r in group])
        if group[0]["kind"] == "answerable" and positive.any() and not positive.all():
            terms.append(torch.logsumexp(z, 0) - torch.logsumexp(z[positive], 0))
        begin += len(group)
    return torch.stack(terms).mean() if terms else logit.sum() * 0.0


def _runs(batch: list[Row]) -> list[list[Row]]:
    """A batch's rows split into runs of one question each (batches() keeps a question's rows together)."""
    runs: list[list[Row]] = []
    for r in batch:
        if runs and (runs[-1][0]["kind"], runs[-1][0]["qid"]) == (r["kind"], r["qid"]):
            runs[-1].append(r)
        else:
            runs.append([r])
    return runs


def pairs(rows: list[Row]) -> list[Pair]:
    """The network's input for rows."""
    return [Pair(r["question"], r["sentence"], r["context"]) for r in rows]


def train(
    examples: Path,
    base_folder: Path,
    out: Path,
    layers: int,
    epochs: float,
    seed: int,
    progress: bool = True,
    listwise: float = LISTWISE,
    pool: Mapping[str, int] = TRAIN_POOL,
    checkpoint: Path | None = None,
    every: int = EVERY,
    stop_after: int | None = None,
) -> dict[str, float | int | str]:
    """Train on the rows of part 'train' (labels 0/1), save the trained weights as fp16; returns figures.

    pool: how many of each pool's first negatives training reads, by kind (and every positive);
    checkpoint: saved there every `every` steps, resumed from when it is of this plan (CheckpointError when
    it is damaged or of another), removed once the weights are written; stop_after: stop after that many
    steps, without weights (what a stopped run leaves)."""
    torch.manual_seed(seed)
    torch.set_num_threads(torch.get_num_threads())
    rows = [
        r for r in map(json.loads, examples.read_text(encoding="utf-8").splitlines()) if r["part"] == "train"
    ]
    rows = [r for r in rows if trains_on(r, pool)]
    base = read_base(base_folder)
    config = json.loads((base_folder / "config.json").read_text(encoding="utf-8"))
    net = ScorerNet(base, initial_weights(base, layers, seed), config)
    encoder = PairEncoder(base_folder / "tokenizer.json")
    plan: list[list[Row]] = []
    for epoch in range(math.ceil(epochs)):
        plan += batches(rows, seed + epoch)
    plan = plan[: round(len(plan) * epochs / math.ceil(epochs))]
    body = [(n, p) for n, p in net.named_parameters() if not n.startswith("classifier")]
    decay = [p for n, p in body if not ("LayerNorm" in n or n.endswith("bias"))]
    rest = [p for n, p in body if "LayerNorm" in n or n.endswith("bias")]
    head = [p for n, p in net.named_parameters() if n.startswith("classifier")]
    optimiser = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": WEIGHT_DECAY},
            {"params": rest, "weight_decay": 0.0},
            {"params": head, "weight_decay": 0.0, "lr": HEAD_LEARNING_RATE},
        ],
        lr=LEARNING_RATE,
    )
    warm = max(1, int(len(plan) * WARMUP))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser,
        lambda step: min((step + 1) / warm, max(0.0, (len(plan) - step) / max(1, len(plan) - warm))),
    )
    loss_fn = torch.nn.BCEWithLogitsLoss()
    key = plan_key(layers, epochs, seed, pool, len(rows), len(plan))
    state = read_checkpoint(checkpoint, key) if checkpoint else None
    start, running = 0, 0.0
    if state:
        for name, value in state["net"].items():
            getattr(net, name.replace(".", "__")).data.copy_(value)
        optimiser.load_state_dict(state["optimiser"])
        schedule.load_state_dict(state["schedule"])
        start, running = int(state["step"]), float(state["running"])
    began = time.perf_counter()
    bar = _bar(len(plan) - start, progress)
    net.train()
    for step, batch in enumerate(plan[start:], start):
        if stop_after is not None and step >= stop_after:
            return {"stopped": step}
        ids, types, mask = as_tensors(encoder.encode(pairs(batch)))
        labels = torch.tensor([float(r["label"]) for r in batch])
        logit = net(ids, types, mask)
        loss = loss_fn(logit, labels) + listwise * pool_loss(logit, batch)
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        optimiser.step()
        schedule.step()
        running = 0.98 * running + 0.02 * loss.item() if step else loss.item()
        bar(step - start, running)
        if checkpoint and ((step + 1) % every == 0 or step + 1 == len(plan)):
            parts = {"optimiser": optimiser.state_dict(), "schedule": schedule.state_dict()}
            write_checkpoint(checkpoint, key, step + 1, running, net=net.trained_state(), **parts)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.half().contiguous() for k, v in net.trained_state().items()}, str(out))
    if checkpoint:  # the weights are written: a later run (a pilot's next, another plan) starts afresh
        checkpoint.unlink(missing_ok=True)
    return {
        "pairs": len(rows),
        "train_pool": json.dumps(dict(pool)),
        "steps": len(plan),
        "resumed_from": start,
        "seconds": round(time.perf_counter() - began),
        "loss": running,
        "machine": describe(),
    }


def _bar(total: int, enabled: bool):  # type: ignore[no-untyped-def]
    """A progress bar (tqdm) with the running loss; a no-op when disabled."""
    if not enabled:
        return lambda step, loss: None
    from tqdm import tqdm

    bar = tqdm(total=total, unit="batch", desc="training", mininterval=5)

    def update(step: int, loss: float) -> None:
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
        if step == total - 1:
            bar.close()

    return update
