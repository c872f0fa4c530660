"""Slack HTTP mode beside hostile requests: a signed mention's latency while 2 MB unsigned bodies arrive.

The bot runs as the tests run it (tests/bot/slack/harness.py: real slack-bolt behind uvicorn and the guard,
the loopback Slack stand-in), answering from a small store of the seed editorial through the real engine.
Each round sends a 2 MB request and a signed mention at the same moment and times the mention from its
POST to its answer reaching the stand-in; "alone" rounds send the mention by itself, interleaved with the
others, so that all three cases share the machine's background load.

    .venv/bin/python -m bench.slack_http_guard [--rounds 10]
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bot.slack.feedback import FeedbackStore
from evaluation.machine import describe
from evaluation.metrics import percentile
from retrieval.engine import Engine, EngineConfig
from retrieval.store.chunk_store import StoreLocation
from tests.bot.slack.harness import Running, mention, running
from tests.helpers.slack_standin import RawRequest, SlackStandIn

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "stockholm-talks-editorial.txt"
QUESTION = "What did the US offer in Stockholm?"
HOSTILE_BYTES = 2 * 1024 * 1024


@contextmanager
def bot_on_seed_store(work: Path) -> Iterator[tuple[Engine, Running, SlackStandIn]]:
    """The seed editorial ingested into a fresh store; the Slack bot serving it over HTTP; the stand-in."""
    docs = work / "docs"
    docs.mkdir()
    shutil.copy(SEED, docs / SEED.name)
    engine = Engine(EngineConfig(StoreLocation(work / "store"), device="cpu"))
    engine.ingest([docs])
    engine.ask(QUESTION)  # the model and the chain loaded before anything is timed
    feedback = FeedbackStore(work / "feedback.sqlite3")
    try:
        with SlackStandIn() as slack, running(engine, slack, feedback, rate_limit=1000) as bot:
            yield engine, bot, slack
    finally:
        feedback.close()


def answered_after(slack: SlackStandIn, bot: Running, question: str, user: str) -> float:
    """Seconds from a signed mention's POST to its answer reaching the stand-in."""
    event = mention(slack, question, user=user)
    began = time.monotonic()
    bot.send(event, event_id=f"Ev{event['ts']}")
    return slack.wait_for_reply(event["ts"]).at - began


def hostile(port: int, signature: bool, statuses: list[int]) -> None:
    """POST a 2 MB body, all of it (unless the server closes first); its status appended to statuses."""
    body = b'{"text": "' + b"https://example.com/a?b=c " * (HOSTILE_BYTES // 26) + b'"}'
    wrong = {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=" + "0" * 64}
    headers = {"Content-Type": "application/json", "Content-Length": str(len(body))}
    request = RawRequest(port, headers | (wrong if signature else {}))
    request.send(body)
    statuses.append(request.status())
    request.close()


def beside_hostile(slack: SlackStandIn, bot: Running, signature: bool, user: str) -> tuple[float, int]:
    """A mention's latency with a 2 MB request sent at the same moment; and that request's status."""
    statuses: list[int] = []
    sender = threading.Thread(target=hostile, args=(bot.port, signature, statuses))
    sender.start()
    seconds = answered_after(slack, bot, QUESTION, user)
    sender.join(timeout=60)
    return seconds, statuses[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    rounds = parser.parse_args().rounds
    logging.basicConfig(level=logging.ERROR)  # the guard's refusal lines are expected here: not printed
    timings: dict[str, list[float]] = {"alone": [], "no signature": [], "wrong signature": []}
    statuses: set[int] = set()
    with (
        tempfile.TemporaryDirectory(prefix="citebot-guard-bench-") as folder,
        bot_on_seed_store(Path(folder)) as (engine, bot, slack),
    ):
        for round_ in range(rounds):
            engine.embedder.forget_recent()
            timings["alone"].append(answered_after(slack, bot, QUESTION, f"UA{round_}"))
            for case, signature in (("no signature", False), ("wrong signature", True)):
                engine.embedder.forget_recent()
                seconds, status = beside_hostile(slack, bot, signature, f"U{case[0]}{round_}")
                timings[case].append(seconds)
                statuses.add(status)
    print(f"CPU: {describe()}")
    print(f"{rounds} rounds; the 2 MB requests were answered {sorted(statuses)}")
    print("signed mention, POST to answer posted (s):   p50    max")
    for case, measured in timings.items():
        label = "alone" if case == "alone" else f"beside a 2 MB request, {case}"
        print(f"  {label:<42} {percentile(measured, 50):6.3f} {max(measured):6.3f}")


if __name__ == "__main__":
    main()
