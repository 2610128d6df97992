"""A small OpenAI-compatible HTTP server on 127.0.0.1 that injects faults on demand.

It answers ``POST /v1/chat/completions`` and ``POST /v1/completions`` deterministically (it
echoes the last user message, or the prompt: ``"echo: <text>"``), lists ``GET /v1/models``,
answers ``GET /health`` and ``GET /_fake/stats`` (the request count), and plays a *script* of
faults, one per completion request, before answering normally: an HTTP status (429 with
``Retry-After``, 500, 401 ...), a hang longer than the client's timeout, a malformed body, or a
dropped connection. It counts every request and keeps its arrival time, so tests can assert
attempts and backoff waits. It runs its own event loop in a background thread, so sync and async
tests can both use it; ``python -m socratic.testing --latency 0.1`` runs it as its
own process. Standard library only.

Answers: ``max_tokens`` (or ``max_completion_tokens``) keeps the first N words, ``stop``
cuts at the first stop string, ``n`` gives n choices (identical at temperature 0; at
temperature > 0 choice i > 0 ends with ``" #i"``). Usage counts words. ``ignore_n=True``
imitates servers that return one choice.

Example:
    >>> from openai import OpenAI
    >>> with FakeOpenAIServer(script=[Fault.status(500)]) as server:
    ...     client = OpenAI(base_url=server.base_url, api_key="k", max_retries=1)
    ...     out = client.chat.completions.create(
    ...         model="m", messages=[{"role": "user", "content": "hi"}])
    ...     (out.choices[0].message.content, server.count)
    ('echo: hi', 2)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Fault:
    """One scripted misbehaviour, consumed by the next completion request.

    Example:
        >>> Fault.status(429, retry_after=0.5).retry_after
        0.5
        >>> Fault.hang(3.0).kind
        'hang'
    """

    kind: str  # "status" | "hang" | "malformed" | "disconnect" | "ok"
    code: int = 200
    retry_after: float | None = None
    seconds: float = 0.0
    body: str = ""
    message: str = ""

    @classmethod
    def status(cls, code: int, *, retry_after: float | None = None, message: str = "") -> Fault:
        """Answer with HTTP ``code`` (and a ``Retry-After`` header in seconds when given)."""
        return cls("status", code=code, retry_after=retry_after, message=message)

    @classmethod
    def hang(cls, seconds: float) -> Fault:
        """Wait ``seconds`` before answering (longer than the client's timeout = a timeout)."""
        return cls("hang", seconds=seconds)

    @classmethod
    def malformed(cls, body: str = '{"choices": [oops') -> Fault:
        """Answer 200 with a body that is not a valid completion."""
        return cls("malformed", body=body)

    @classmethod
    def disconnect(cls) -> Fault:
        """Close the connection without answering."""
        return cls("disconnect")

    @classmethod
    def ok(cls) -> Fault:
        """Answer normally (a placeholder in a script)."""
        return cls("ok")


@dataclass
class SeenRequest:
    """A request as the server saw it (the Authorization header is kept only as a flag).

    Example:
        >>> SeenRequest("POST", "/v1/completions", {"prompt": "hi"}, 0.0, True).path
        '/v1/completions'
    """

    method: str
    path: str
    body: dict[str, Any]
    time: float
    authorized: bool
    fault: str = "ok"


_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
            429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}


@dataclass
class FakeOpenAIServer:
    """An OpenAI-compatible server for tests: deterministic echo answers plus scripted faults.

    Args:
        latency: seconds every completion request waits before its answer (runs concurrently).
        script: faults for the next completion requests, in order; then normal answers.
        models: accepted model names (None: any); others get 404 ``model_not_found``.
        api_key: the bearer key required (None: any or none); a wrong key gets 401, and the
            message echoes the key it received, as some real servers do (tests check redaction).
        ignore_n: always return a single choice.

    Example:
        >>> with FakeOpenAIServer(models=["tiny"]) as s:
        ...     s.base_url.endswith("/v1")
        True
    """

    latency: float = 0.0
    script: list[Fault] = field(default_factory=list)
    models: list[str] | None = None
    api_key: str | None = None
    ignore_n: bool = False
    host: str = "127.0.0.1"
    port: int = 0

    def __post_init__(self) -> None:
        self._script: deque[Fault] = deque(self.script)
        self._seen: list[SeenRequest] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- control ----------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def requests(self) -> list[SeenRequest]:
        """Completion requests received so far (health and model listings are not counted)."""
        with self._lock:
            return list(self._seen)

    @property
    def count(self) -> int:
        with self._lock:
            return len(self._seen)

    def push(self, *faults: Fault) -> None:
        """Append faults to the script."""
        with self._lock:
            self._script.extend(faults)

    def reset(self) -> None:
        """Forget seen requests and the remaining script."""
        with self._lock:
            self._seen.clear()
            self._script.clear()

    def start(self) -> FakeOpenAIServer:
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                self._server = loop.run_until_complete(
                    asyncio.start_server(self._handle, self.host, self.port)
                )
                self.port = self._server.sockets[0].getsockname()[1]
            except BaseException as exc:  # pragma: no cover - bind failure
                errors.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-openai", daemon=True)
        self._thread.start()
        ready.wait(10)
        if errors:
            raise errors[0]
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is None or self._thread is None:
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.sleep(0)
            loop.stop()

        asyncio.run_coroutine_threadsafe(shutdown(), loop)
        self._thread.join(10)
        self._thread = None
        self._loop = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- HTTP -------------------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                length = int(headers.get("content-length", "0") or 0)
                raw = await reader.readexactly(length) if length else b""
                keep = await self._respond(writer, method, path.split("?")[0], headers, raw)
                if not keep:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()
            if task is not None:
                self._tasks.discard(task)

    @staticmethod
    async def _send(
        writer: asyncio.StreamWriter,
        code: int,
        body: str,
        extra: dict[str, str] | None = None,
    ) -> None:
        data = body.encode()
        head = [f"HTTP/1.1 {code} {_REASONS.get(code, 'Error')}",
                "Content-Type: application/json", f"Content-Length: {len(data)}",
                "Connection: keep-alive"]
        head += [f"{k}: {v}" for k, v in (extra or {}).items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + data)
        await writer.drain()

    async def _respond(
        self,
        writer: asyncio.StreamWriter,
        method: str,
        path: str,
        headers: dict[str, str],
        raw: bytes,
    ) -> bool:
        if method == "GET" and path in ("/health", "/v1/health"):
            await self._send(writer, 200, '{"status":"ok"}')
            return True
        if method == "GET" and path == "/_fake/stats":
            await self._send(writer, 200, json.dumps({"requests": self.count}))
            return True
        if method == "GET" and path == "/v1/models":
            names = self.models or ["echo"]
            data = [{"id": m, "object": "model", "owned_by": "fake"} for m in names]
            await self._send(writer, 200, json.dumps({"object": "list", "data": data}))
            return True
        if method != "POST" or path not in ("/v1/chat/completions", "/v1/completions"):
            await self._send(writer, 404, _error(f"no route {method} {path}", "not_found"))
            return True
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            body = {}
        auth = headers.get("authorization", "")
        given_key = auth[7:] if auth.lower().startswith("bearer ") else ""
        authorized = self.api_key is None or given_key == self.api_key
        with self._lock:
            fault = self._script.popleft() if self._script else Fault.ok()
            self._seen.append(
                SeenRequest(method, path, body, time.monotonic(), authorized, fault.kind)
            )
        if self.latency:
            await asyncio.sleep(self.latency)
        if fault.kind == "hang":
            await asyncio.sleep(fault.seconds)
        elif fault.kind == "disconnect":
            return False
        elif fault.kind == "malformed":
            await self._send(writer, 200, fault.body)
            return True
        elif fault.kind == "status":
            extra = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
            msg = fault.message or f"injected fault {fault.code}"
            await self._send(writer, fault.code, _error(msg, "injected"), extra)
            return True
        if not authorized:
            msg = f"Incorrect API key provided: {given_key}."
            await self._send(writer, 401, _error(msg, "invalid_api_key"))
            return True
        model = body.get("model")
        if self.models is not None and model not in self.models:
            msg = f"The model `{model}` does not exist or you do not have access to it."
            await self._send(writer, 404, _error(msg, "model_not_found"))
            return True
        chat = path.endswith("/chat/completions")
        if chat and not isinstance(body.get("messages"), list):
            await self._send(writer, 400, _error("'messages' is required", "invalid_request"))
            return True
        await self._send(writer, 200, json.dumps(self._answer(body, chat)))
        return True

    def _answer(self, body: dict[str, Any], chat: bool) -> dict[str, Any]:
        if chat:
            users = [m.get("content", "") for m in body["messages"] if m.get("role") == "user"]
            text_in = str(users[-1]) if users else ""
            prompt_words = sum(len(str(m.get("content", "")).split()) for m in body["messages"])
        else:
            prompt = body.get("prompt", "")
            text_in = prompt if isinstance(prompt, str) else str(prompt[0])
            prompt_words = len(text_in.split())
        n = 1 if self.ignore_n else int(body.get("n") or 1)
        temperature = body.get("temperature") or 0
        choices, completion_words = [], 0
        for i in range(n):
            text = f"echo: {text_in}" + (f" #{i}" if temperature > 0 and i > 0 else "")
            limit = body.get("max_tokens") or body.get("max_completion_tokens")
            text, finish = _truncate(text, limit, body.get("stop"))
            completion_words += len(text.split())
            if chat:
                message = {"role": "assistant", "content": text}
                choices.append({"index": i, "message": message, "finish_reason": finish})
            else:
                choices.append({"index": i, "text": text, "finish_reason": finish})
        return {
            "id": f"fake-{len(self._seen)}",
            "object": "chat.completion" if chat else "text_completion",
            "created": int(time.time()),
            "model": body.get("model", ""),
            "choices": choices,
            "usage": {
                "prompt_tokens": prompt_words,
                "completion_tokens": completion_words,
                "total_tokens": prompt_words + completion_words,
            },
        }


def _truncate(text: str, max_tokens: Any, stop: Any) -> tuple[str, str]:
    finish = "stop"
    stops = [stop] if isinstance(stop, str) else list(stop or [])
    cuts = [text.find(s) for s in stops if s and s in text]
    if cuts:
        text = text[: min(cuts)]
    if max_tokens:
        words = text.split(" ")
        if len(words) > int(max_tokens):
            text, finish = " ".join(words[: int(max_tokens)]), "length"
    return text, finish


def _error(message: str, code: str) -> str:
    return json.dumps({"error": {"message": message, "type": "invalid_request_error",
                                 "param": None, "code": code}})


class FakeOpenAIProcess:
    """The fake server in a child process (its own GIL: for benchmarks), stopped by its PID.

    Example:
        >>> with FakeOpenAIProcess(latency=0.01) as server:   # doctest: +SKIP
        ...     server.base_url, server.count
        ('http://127.0.0.1:41234/v1', 0)
    """

    def __init__(self, latency: float = 0.0, ignore_n: bool = False) -> None:
        self.latency = latency
        self.ignore_n = ignore_n
        self.base_url = ""
        self._proc: Any = None

    def __enter__(self) -> FakeOpenAIProcess:
        import subprocess
        import sys

        cmd = [sys.executable, "-m", "socratic.testing", "--latency", str(self.latency)]
        if self.ignore_n:
            cmd.append("--ignore-n")
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        self.base_url = self._proc.stdout.readline().strip()
        if not self.base_url.startswith("http://127.0.0.1:"):
            self.__exit__()
            raise RuntimeError("the fake OpenAI server process did not start")
        return self

    @property
    def count(self) -> int:
        """Completion requests the server has received."""
        import urllib.request

        url = self.base_url.removesuffix("/v1") + "/_fake/stats"
        with urllib.request.urlopen(url, timeout=5) as r:
            return int(json.loads(r.read())["requests"])

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except Exception:
                self._proc.kill()
                self._proc.wait(5)
            if self._proc.stdout is not None:
                self._proc.stdout.close()
            self._proc = None


def main(argv: list[str] | None = None) -> None:
    """``python -m socratic.testing --port 8123 --latency 0.1`` (runs until killed)."""
    import argparse

    parser = argparse.ArgumentParser(description="fake OpenAI-compatible server on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--ignore-n", action="store_true")
    args = parser.parse_args(argv)
    server = FakeOpenAIServer(latency=args.latency, port=args.port, ignore_n=args.ignore_n)
    server.start()
    print(server.base_url, flush=True)
    import signal

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    server.stop()


if __name__ == "__main__":
    main()
