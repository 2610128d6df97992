"""A lean OpenAI-protocol client on one aiohttp session: the ``openai`` backend's fast transport.

The backend sends two kinds of request, ``POST /chat/completions`` and ``POST /completions``
(JSON, bearer key, optionally streamed as server-sent events), and reads plain JSON back. The
official SDK spends 2-4 ms of CPU per request on its own machinery (parameter transforms,
response models, its auth and retry layers; measured in ``bench/bench_openai_transport.py``),
which on a small machine is the bottleneck of a fan-out at 100 ms latency. This client does
just those two requests: ``json.dumps`` the body, one aiohttp session per event loop with a
keep-alive pool, ``json.loads`` the answer. Failures become :class:`HTTPStatusError`,
:class:`ConnectError` or :class:`TimeoutError_` which :mod:`socratic.llm.openai_errors`
classifies exactly like the SDK's (retry 429 / 408 / 409 / 5xx / timeouts / dropped
connections, honour ``Retry-After``, keep the server's own message, never show the key).

Example:
    >>> import asyncio
    >>> from socratic.testing import FakeOpenAIServer
    >>> async def ask(url):
    ...     client = DirectClient(url, "no-key", timeout=10)
    ...     try:
    ...         body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    ...         return (await client.post("/chat/completions", body))["choices"][0]["message"]
    ...     finally:
    ...         await client.close()
    >>> with FakeOpenAIServer() as server:
    ...     asyncio.run(ask(server.base_url))
    {'role': 'assistant', 'content': 'echo: hi'}
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any


class JSONSafe(str):
    """Text known to need no JSON escaping (a base64 ``data:`` URL): spliced into request bodies
    as it is, instead of being scanned by ``json.dumps`` on every request (a 600 kB image URL
    costs ~2 ms to encode each time)."""

    __slots__ = ()


def dumps(body: Any) -> bytes:
    """``json.dumps(body)`` as bytes, with :class:`JSONSafe` strings spliced in unscanned.

    Example:
        >>> url = JSONSafe("data:image/png;base64," + "A" * 300)
        >>> json.loads(dumps({"a": [url, "b"]})) == {"a": [url, "b"]}
        True
    """
    pieces: list[str] = []
    nonce = uuid.uuid4().hex  # marks no text can hold by chance

    def swap(value: Any) -> Any:
        if isinstance(value, JSONSafe) and len(value) > 256:
            pieces.append(value)
            return f"{nonce}{len(pieces) - 1}_"
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        if isinstance(value, list):
            return [swap(v) for v in value]
        return value

    text = json.dumps(swap(body))
    if not pieces:
        return text.encode()
    first, *rest = text.split(nonce)
    out = [first]
    for part in rest:
        index, _, tail = part.partition("_")
        out += [pieces[int(index)], tail]
    return "".join(out).encode()


class HTTPStatusError(Exception):
    """The server answered with an HTTP error status (``status``, ``headers``, parsed ``body``)."""

    def __init__(self, status: int, headers: Any, text: str) -> None:
        self.status_code = status
        self.headers = headers
        self.text = text
        try:
            self.body: Any = json.loads(text) if text else None
        except ValueError:
            self.body = text
        super().__init__(f"HTTP {status}")


class ConnectError(Exception):
    """The connection failed or dropped before an answer (retried)."""


class TimeoutError_(Exception):
    """No answer within the timeout (retried)."""


class DirectClient:
    """POST JSON to an OpenAI-compatible server; one per event loop (its pool is the loop's).

    ``post`` returns the parsed JSON answer; ``stream`` yields the parsed events of a streamed
    answer (``data: {...}`` lines up to ``data: [DONE]``).
    """

    def __init__(self, base_url: str, api_key: str, *, timeout: float, limit: int = 256) -> None:
        import aiohttp

        self.base_url = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session = aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json",
                     "Accept": "application/json"},
            connector=aiohttp.TCPConnector(limit=limit, ttl_dns_cache=300),
            timeout=self._timeout, trust_env=False,
        )

    async def close(self) -> None:
        await self._session.close()

    async def post(self, path: str, body: dict[str, Any]) -> Any:
        import aiohttp

        try:
            async with self._session.post(self.base_url + path, data=dumps(body)) as response:
                raw = await response.read()
                if response.status >= 400:
                    raise HTTPStatusError(response.status, response.headers, raw.decode(errors="replace"))
        except (asyncio.TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise TimeoutError_(str(exc) or "timed out") from None
        except aiohttp.ClientError as exc:
            raise ConnectError(f"{type(exc).__name__}: {exc}") from None
        return json.loads(raw)

    async def stream(self, path: str, body: dict[str, Any]) -> AsyncIterator[Any]:
        import aiohttp

        try:
            async with self._session.post(self.base_url + path, data=dumps(body)) as response:
                if response.status >= 400:
                    raw = await response.read()
                    raise HTTPStatusError(response.status, response.headers, raw.decode(errors="replace"))
                async for line in response.content:
                    text = line.decode().strip()
                    if not text.startswith("data:"):
                        continue
                    data = text[5:].strip()
                    if data == "[DONE]":
                        return
                    yield json.loads(data)
        except (asyncio.TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise TimeoutError_(str(exc) or "timed out") from None
        except aiohttp.ClientError as exc:
            raise ConnectError(f"{type(exc).__name__}: {exc}") from None
