"""Usage accounting: requests sent, cache hits, retries and tokens, per run.

Backends call :func:`record`; a run opens a :class:`UsageStats` scope with :func:`track`.
Scopes nest (each event is added to every open scope), so a graph run and a whole CLI
invocation can both be measured. ``socratic run --stats`` prints the outer scope.

Example:
    >>> with track() as stats:
    ...     record(requests=1, prompt_tokens=12, completion_tokens=3)
    >>> stats.requests, stats.prompt_tokens
    (1, 12)
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, fields


@dataclass
class UsageStats:
    """Counters for one scope (a run, a dataset run, a benchmark).

    Example:
        >>> s = UsageStats()
        >>> s.add(requests=2, cache_hits=1)
        >>> s.as_dict()["requests"]
        2
    """

    requests: int = 0
    cache_hits: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    errors: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for key, value in counts.items():
                setattr(self, key, getattr(self, key) + int(value or 0))

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}


_scopes: contextvars.ContextVar[tuple[UsageStats, ...]] = contextvars.ContextVar(
    "socratic_usage_scopes", default=()
)


def record(**counts: int) -> None:
    """Add counts to every open scope."""
    for scope in _scopes.get():
        scope.add(**counts)


@contextlib.contextmanager
def track(stats: UsageStats | None = None) -> Iterator[UsageStats]:
    """Open a usage scope; everything recorded inside (including in tasks) is counted."""
    stats = stats or UsageStats()
    token = _scopes.set((*_scopes.get(), stats))
    try:
        yield stats
    finally:
        _scopes.reset(token)

