"""Retry policy for remote LLM calls: exponential backoff with jitter, ``Retry-After`` honoured.

Built on tenacity. Each retry is counted in :mod:`socratic.usage` (``retries``). The policy
itself knows nothing about HTTP: the caller says which exceptions are retryable and what wait
the server asked for.

Example:
    >>> import asyncio
    >>> calls = []
    >>> async def flaky():
    ...     calls.append(1)
    ...     if len(calls) < 3:
    ...         raise TimeoutError("slow")
    ...     return "ok"
    >>> policy = RetryPolicy(attempts=3, initial=0.001, max_wait=0.002)
    >>> asyncio.run(call_with_retries(flaky, policy, retryable=lambda e: True))
    'ok'
    >>> len(calls)
    3
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from .. import usage

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry.

    ``attempts`` counts the first try. Without a server hint the n-th wait is drawn uniformly
    from ``[b/2, b]`` with ``b = min(max_wait, initial * 2**(n-1))`` ("equal jitter"); with a
    ``Retry-After`` hint the wait is exactly that, capped at ``retry_after_max``.

    Example:
        >>> p = RetryPolicy(initial=1.0, max_wait=8.0)
        >>> 2.0 <= p.wait(attempt=3) <= 4.0
        True
        >>> p.wait(attempt=1, retry_after=1000.0)
        60.0
    """

    attempts: int = 5
    initial: float = 0.5
    max_wait: float = 20.0
    retry_after_max: float = 60.0

    def wait(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.retry_after_max)
        base = min(self.max_wait, self.initial * 2 ** max(attempt - 1, 0))
        return base / 2 + random.uniform(0.0, base / 2)


def parse_retry_after(headers: Any) -> float | None:
    """Seconds from ``retry-after-ms`` / ``Retry-After`` (seconds or an HTTP date), else None.

    Example:
        >>> parse_retry_after({"retry-after": "2"})
        2.0
        >>> parse_retry_after({"retry-after-ms": "250"})
        0.25
        >>> parse_retry_after({}) is None
        True
    """
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return float(ms) / 1000.0
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


async def call_with_retries(
    fn: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    retryable: Callable[[BaseException], bool],
    retry_after: Callable[[BaseException], float | None] = lambda e: None,
) -> T:
    """Await ``fn()`` until it succeeds, a non-retryable error occurs, or attempts run out.

    The last exception is re-raised unchanged (the caller turns it into a clear message).
    """
    from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        hint = retry_after(exc) if exc is not None else None
        return policy.wait(state.attempt_number, hint)

    def count_retry(state: RetryCallState) -> None:
        usage.record(retries=1)

    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.attempts),
        wait=wait,
        retry=retry_if_exception(retryable),
        before_sleep=count_retry,
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            result = await fn()
    return result
