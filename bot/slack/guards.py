"""Slack's rules on our side: each event answered once, a per-user rate limit, a channel allowlist."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, defaultdict, deque
from collections.abc import Callable


class SeenEvents:
    """Remembers recent event ids, so a retried delivery is not answered twice."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, event_id: str) -> bool:
        """True the first time an id is offered, False after."""
        with self._lock:
            if event_id in self._seen:
                return False
            self._seen[event_id] = None
            while len(self._seen) > self.size:
                self._seen.popitem(last=False)
            return True


class RateLimiter:
    """At most `limit` questions per user in any `window` seconds (sliding window)."""

    def __init__(self, limit: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._asked: defaultdict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def allow(self, user: str) -> bool:
        """Count a question by user; False when it is over the limit (and then it is not counted)."""
        now = self.clock()
        with self._lock:
            times = self._asked[user]
            while times and now - times[0] >= self.window:
                times.popleft()
            if len(times) >= self.limit:
                return False
            times.append(now)
            return True


def channel_allowed(channel: str | None, allowlist: frozenset[str]) -> bool:
    """An empty allowlist allows every channel; direct messages are always allowed."""
    return not allowlist or channel is None or channel.startswith("D") or channel in allowlist
