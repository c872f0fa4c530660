"""Slack HTTP mode under a crowd: 20 askers' mentions at once against one asker alone, in the same run.

The bot runs as in bench.slack_http_guard (real slack-bolt behind uvicorn and the guard, the loopback Slack
stand-in, the real engine on a store of the seed editorial; 4 answering workers, build_app's default). Each
round asks the 20 questions one at a time (each waits for its answer: "alone"), then all 20 at once, each by
another user; a mention's latency is its POST to its answer reaching the stand-in. The question vectors are
forgotten before each round, so no answer is a cached one.

    .venv/bin/python -m bench.concurrent_askers [--rounds 3]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
from pathlib import Path

from bench.slack_http_guard import answered_after, bot_on_seed_store
from evaluation.machine import describe
from evaluation.metrics import percentile
from tests.bot.slack.harness import Running
from tests.helpers.slack_standin import SlackStandIn

ASKERS = 20
QUESTIONS = [
    "What did the US offer in Stockholm?",
    "What did the North want in return?",
    "Who is the North's top nuclear envoy?",
    "Why did the talks break down?",
    "How long did the discussion in Stockholm last?",
    "What did the State Department say about the North's comments?",
    "When did Trump and Kim meet at the border?",
    "Where was the second summit held?",
    "What did Trump suggest might move the negotiations forward?",
    "What status does the North want?",
    "What moratorium did the North warn about?",
    "What does the North expect from another summit?",
    "Until when did the negotiator urge the US to deliberate?",
    "What did Pyongyang demand in exchange for partial abandonment?",
    "Why was the US offer too limited for the North?",
    "What tone did the chief negotiator strike en route to Stockholm?",
    "What did the US suggest during the talks?",
    "What might make Trump inclined to strike a deal?",
    "What did the North rebuff?",
    "What would keep the dialogue alive?",
]


def ask(slack: SlackStandIn, bot: Running, question: str, user: str, times: list[float]) -> None:
    """One asker: a mention, its latency appended to times."""
    times.append(answered_after(slack, bot, question, user))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    alone: list[float] = []
    crowd: list[float] = []
    with (
        tempfile.TemporaryDirectory(prefix="citebot-askers-bench-") as folder,
        bot_on_seed_store(Path(folder)) as (engine, bot, slack),
    ):
        for round_ in range(rounds):
            engine.embedder.forget_recent()
            alone += [answered_after(slack, bot, q, f"UA{round_}x{i}") for i, q in enumerate(QUESTIONS)]
            engine.embedder.forget_recent()
            times: list[float] = []
            askers = [
                threading.Thread(target=ask, args=(slack, bot, q, f"UC{round_}x{i}", times))
                for i, q in enumerate(QUESTIONS[:ASKERS])
            ]
            for asker in askers:
                asker.start()
            for asker in askers:
                asker.join(timeout=120)
            assert len(times) == ASKERS, f"only {len(times)} of {ASKERS} answers came"
            crowd += times
    print(f"CPU: {describe()}")
    print(f"{rounds} rounds of {ASKERS} questions; a mention's POST to its answer posted (s):")
    print(f"  one asker alone           p50 {percentile(alone, 50):6.3f}  p95 {percentile(alone, 95):6.3f}")
    print(
        f"  {ASKERS} concurrent askers     p50 {percentile(crowd, 50):6.3f}  p95 {percentile(crowd, 95):6.3f}"
    )
    print(f"  p50 ratio (crowd / alone): {percentile(crowd, 50) / percentile(alone, 50):.1f}x")


if __name__ == "__main__":
    main()
