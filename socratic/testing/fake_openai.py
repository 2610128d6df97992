"""An OpenAI-compatible HTTP server on 127.0.0.1 for tests, injecting faults on demand.

On ``http.server`` (a thread per connection: a request waiting out its latency blocks no other;
HTTP/1.1 keep-alive): ``POST /v1/chat/completions`` and ``/v1/completions``, also streamed
(``"stream": true``: ``data: {...}`` chunks, a usage chunk if ``stream_options.include_usage``,
``data: [DONE]``), ``GET /v1/models``, ``/health`` and ``/_fake/stats`` (the request count).

The answer echoes the last user message (chat) or the prompt: ``"echo: <text>"`` (content parts:
text parts joined by spaces, an image as ``[image WxH]``: a ``data:`` URL is decoded, and one
that is not a readable image gets 400, as OpenAI answers; other URLs as ``[image]``).
``vision=False`` answers 400 to any image, ``schemas=False`` to ``response_format:
json_schema`` (servers without structured outputs). ``max_tokens`` (or
``max_completion_tokens``) keeps the first N words, ``stop`` cuts at the first stop string, ``n``
gives n choices (at temperature > 0 choice i > 0 ends with ``" #i"``). Usage counts words. A body
that is not a JSON object gets 400. Each completion request first takes the next :class:`Fault` of
the script and is recorded with its parsed JSON body (``requests``, ``bodies``). ``python -m
socratic.testing --port 8123 --latency 0.1`` runs it as a process (:class:`FakeOpenAIProcess`).

Example:
    >>> from openai import OpenAI
    >>> with FakeOpenAIServer(script=[Fault.status(500)]) as server:
    ...     client = OpenAI(base_url=server.base_url, api_key="k", max_retries=1)
    ...     chunks = client.chat.completions.create(
    ...         model="m", messages=[{"role": "user", "content": "hi there"}], stream=True)
    ...     "".join(c.choices[0].delta.content or "" for c in chunks), server.bodies[1]["stream"]
    ('echo: hi there', True)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Fault:
    """One scripted misbehaviour, consumed by the next completion request.

    ``status(code, retry_after=, message=)``: an OpenAI-style JSON error with HTTP ``code`` (and a
    ``Retry-After`` header in seconds when given). ``hang(seconds)``: wait, then answer normally
    (longer than the client's timeout: a timeout). ``malformed(body)``: HTTP 200 with ``body`` as
    it is (streamed: one event ``data: <body>``, no ``[DONE]``). ``disconnect()``: close the
    connection without answering. ``ok()``: answer normally (a placeholder in a script).

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
        return cls("status", code=code, retry_after=retry_after, message=message)

    @classmethod
    def hang(cls, seconds: float) -> Fault:
        return cls("hang", seconds=seconds)

    @classmethod
    def malformed(cls, body: str = '{"choices": [oops') -> Fault:
        return cls("malformed", body=body)

    @classmethod
    def disconnect(cls) -> Fault:
        return cls("disconnect")

    @classmethod
    def ok(cls) -> Fault:
        return cls("ok")


@dataclass
class SeenRequest:
    """A completion request as the server saw it: ``body`` is its parsed JSON (``{}`` if it was
    not a JSON object), ``time`` its arrival (monotonic), Authorization only as a flag.

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
        reply: the answer text for a request body, instead of ``"echo: <text>"``.
        vision: accept image content parts (False: 400, as a text-only model's server does).
        schemas: accept ``response_format: {type: json_schema}`` (False: 400).
        check_images: decode data URLs (False: every image echoes as ``[image]``; benchmarks).

    Example:
        >>> from openai import OpenAI
        >>> with FakeOpenAIServer(models=["tiny"], reply=lambda body: '{"label": "cat"}') as s:
        ...     out = OpenAI(base_url=s.base_url, api_key="k").chat.completions.create(
        ...         model="tiny", messages=[{"role": "user", "content": "?"}],
        ...         response_format={"type": "json_object"})
        ...     out.choices[0].message.content, s.bodies[0]["response_format"]
        ('{"label": "cat"}', {'type': 'json_object'})
    """

    latency: float = 0.0
    script: list[Fault] = field(default_factory=list)
    models: list[str] | None = None
    api_key: str | None = None
    ignore_n: bool = False
    host: str = "127.0.0.1"
    port: int = 0
    reply: Callable[[dict[str, Any]], str] | None = None
    vision: bool = True
    schemas: bool = True
    check_images: bool = True

    def __post_init__(self) -> None:
        self._script: deque[Fault] = deque(self.script)
        self._seen: list[SeenRequest] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._running: tuple[ThreadingHTTPServer, threading.Thread] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def requests(self) -> list[SeenRequest]:
        """Completion requests received so far (health and model listings are not counted)."""
        with self._lock:
            return list(self._seen)

    @property
    def bodies(self) -> list[dict[str, Any]]:
        """The parsed JSON body of every completion request so far, in arrival order."""
        return [r.body for r in self.requests]

    @property
    def count(self) -> int:
        """How many completion requests were received."""
        return len(self.requests)

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
        """Bind (``port=0``: a free port, kept for a restart) and serve in a background thread."""
        self._stopping.clear()
        handler = type("Handler", (_Handler,), {"fake": self})
        httpd = ThreadingHTTPServer((self.host, self.port), handler, bind_and_activate=False)
        httpd.request_queue_size = 1024  # hundreds of clients may connect at once
        httpd.server_bind()
        httpd.server_activate()
        self.port = httpd.server_address[1]
        thread = threading.Thread(target=self._serve, args=(httpd,), name="fake-openai", daemon=True)
        thread.start()
        self._running = (httpd, thread)
        return self

    def _serve(self, httpd: ThreadingHTTPServer) -> None:
        while not self._stopping.is_set():  # serve_forever's shutdown() would poll: slower stop
            httpd.handle_request()

    def stop(self) -> None:
        """Stop serving and close open connections; waiting requests end without an answer."""
        if self._running is None:
            return
        (httpd, thread), self._running = self._running, None
        self._stopping.set()
        with contextlib.suppress(OSError):  # wakes the accept loop
            socket.create_connection((self.host, self.port), timeout=5).close()
        thread.join(10)
        httpd.server_close()
        for sock in list(self._connections):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _arrive(self, path: str, body: dict[str, Any], authorized: bool) -> tuple[Fault, int]:
        """Record a completion request: its fault and its number."""
        with self._lock:
            fault = self._script.popleft() if self._script else Fault.ok()
            self._seen.append(SeenRequest("POST", path, body, time.monotonic(), authorized, fault.kind))
            return fault, len(self._seen) - 1


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    wbufsize = -1  # buffered: a response leaves in one send, at the flush after do_*
    disable_nagle_algorithm = True
    fake: FakeOpenAIServer  # set by FakeOpenAIServer.start on a subclass

    def handle(self) -> None:  # connections are tracked so that stop() can close them
        self.fake._connections.add(self.connection)
        try:
            with contextlib.suppress(ConnectionError, TimeoutError):  # clients that left
                super().handle()
        finally:
            self.fake._connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:  # no access log
        pass

    def do_GET(self) -> None:
        path, fake = self.path.split("?")[0], self.fake
        if path in ("/health", "/v1/health"):
            self._send(200, {"status": "ok"})
        elif path == "/_fake/stats":
            self._send(200, {"requests": fake.count})
        elif path == "/v1/models":
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "fake"}
                    for m in fake.models or ["echo"]]
            self._send(200, {"object": "list", "data": data})
        else:
            self._error(404, f"no route GET {path}", "not_found")

    def do_POST(self) -> None:
        path, fake = self.path.split("?")[0], self.fake
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if path not in ("/v1/chat/completions", "/v1/completions"):
            return self._error(404, f"no route POST {path}", "not_found")
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = None
        key = self.headers.get("Authorization", "").partition(" ")[2]  # after "Bearer"
        authorized = fake.api_key is None or key == fake.api_key
        fault, number = fake._arrive(path, body if isinstance(body, dict) else {}, authorized)
        wait = fake._stopping.wait  # True: the server stopped meanwhile
        alive = not wait(fake.latency) and (fault.kind != "hang" or not wait(fault.seconds))
        stream = isinstance(body, dict) and bool(body.get("stream"))
        chat = path.endswith("/chat/completions")
        if not alive or fault.kind == "disconnect":
            self.close_connection = True
        elif fault.kind == "malformed":
            self._send(200, f"data: {fault.body}\n\n" if stream else fault.body,
                       "text/event-stream" if stream else "application/json")
        elif fault.kind == "status":
            extra = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
            self._error(fault.code, fault.message or f"injected fault {fault.code}", "injected", extra)
        elif not isinstance(body, dict):
            self._error(400, "the request body is not a JSON object", "invalid_json")
        elif not authorized:
            self._error(401, f"Incorrect API key provided: {key}.", "invalid_api_key")
        elif fake.models is not None and body.get("model") not in fake.models:
            msg = f"The model `{body.get('model')}` does not exist or you do not have access to it."
            self._error(404, msg, "model_not_found")
        elif chat and not isinstance(body.get("messages"), list):
            self._error(400, "'messages' is required", "invalid_request")
        elif not fake.vision and chat and _has_images(body):
            self._error(400, f"model {body.get('model')} does not support image inputs", "invalid_request")
        elif not fake.schemas and (body.get("response_format") or {}).get("type") == "json_schema":
            self._error(400, "response_format json_schema is not supported", "invalid_request")
        else:
            head = {"id": f"fake-{number}", "object": "chat.completion" if chat else "text_completion",
                    "created": int(time.time()), "model": body.get("model", "")}
            try:
                answer = _completion(head, body, chat, fake.reply, fake.ignore_n, fake.check_images)
            except (TypeError, ValueError, AttributeError) as exc:
                return self._error(400, f"invalid request: {exc}", "invalid_request")
            if not stream:
                return self._send(200, answer)
            self._stream(_chunks(answer, chat, bool((body.get("stream_options") or {}).get("include_usage"))))

    def _send(self, code: int, body: dict[str, Any] | str, content_type: str = "application/json",
              headers: dict[str, str] | None = None) -> None:
        data = (body if isinstance(body, str) else json.dumps(body)).encode()
        self.send_response(code)
        for name, value in {"Content-Type": content_type, "Content-Length": str(len(data)),
                            **(headers or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, code: int, message: str, kind: str, headers: dict[str, str] | None = None) -> None:
        error = {"message": message, "type": "invalid_request_error", "param": None, "code": kind}
        self._send(code, {"error": error}, headers=headers)

    def _stream(self, events: Iterator[dict[str, Any]]) -> None:
        """Server-sent events in chunked transfer encoding (the connection stays open)."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for event in [*map(json.dumps, events), "[DONE]"]:
            data = f"data: {event}\n\n".encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")


def _has_images(body: dict[str, Any]) -> bool:
    return any(isinstance(m, dict) and isinstance(m.get("content"), list)
               and any(isinstance(p, dict) and p.get("type") == "image_url" for p in m["content"])
               for m in body.get("messages") or [])


def _image(part: dict[str, Any]) -> str:
    """``[image WxH]`` for a readable data URL (ValueError otherwise), ``[image]`` for a URL."""
    ref = part.get("image_url")
    url = ref.get("url") if isinstance(ref, dict) else ref
    if not isinstance(url, str) or not url.startswith("data:"):
        return "[image]"
    import base64
    import io

    from PIL import Image

    head, _, payload = url.partition(",")
    try:
        if not (head.startswith("data:image/") and head.endswith(";base64")):
            raise ValueError(head)
        with Image.open(io.BytesIO(base64.b64decode(payload, validate=True))) as im:
            return f"[image {im.size[0]}x{im.size[1]}]"
    except Exception:
        raise ValueError("an image_url is not a valid base64 image data URL") from None


def _text(content: Any, check: bool = True) -> str:
    """A message's content as text: content parts joined by spaces, an image as
    ``[image WxH]`` (``[image]`` unchecked)."""
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) if p.get("type") == "text"
                        else (_image(p) if check else "[image]") if p.get("type") == "image_url"
                        else f"[{p.get('type')}]" for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


def _completion(head: dict[str, Any], body: dict[str, Any], chat: bool,
                reply: Callable[[dict[str, Any]], str] | None, ignore_n: bool,
                check_images: bool = True) -> dict[str, Any]:
    """The deterministic answer to a request body (usage counts words)."""
    if chat:
        messages = [m for m in body["messages"] if isinstance(m, dict)]
        texts = [_text(m.get("content"), check_images) for m in messages]
        users = [t for m, t in zip(messages, texts, strict=True) if m.get("role") == "user"]
        text_in = users[-1] if users else ""
        prompt_words = sum(len(t.split()) for t in texts)
    else:
        prompt = body.get("prompt", "")
        text_in = prompt if isinstance(prompt, str) else str(prompt[0]) if prompt else ""
        prompt_words = len(text_in.split())
    base = reply(body) if reply is not None else f"echo: {text_in}"
    hot = (body.get("temperature") or 0) > 0
    limit = body.get("max_tokens") or body.get("max_completion_tokens")
    choices, words = [], 0
    for i in range(1 if ignore_n else int(body.get("n") or 1)):
        text, finish = _truncate(base + (f" #{i}" if hot and i else ""), limit, body.get("stop"))
        words += len(text.split())
        out = {"message": {"role": "assistant", "content": text}} if chat else {"text": text}
        choices.append({"index": i, **out, "finish_reason": finish})
    return {**head, "choices": choices, "usage": {"prompt_tokens": prompt_words, "completion_tokens": words,
                                                  "total_tokens": prompt_words + words}}


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


def _chunks(answer: dict[str, Any], chat: bool, usage: bool) -> Iterator[dict[str, Any]]:
    """A completion as stream chunks: per choice, a chunk per word, then its finish reason."""
    head = {"id": answer["id"], "object": "chat.completion.chunk" if chat else "text_completion",
            "created": answer["created"], "model": answer["model"]}
    for choice in answer["choices"]:
        first, *rest = (choice["message"]["content"] if chat else choice["text"]).split(" ")
        for n, piece in enumerate([first, *(" " + word for word in rest)]):
            role = {"role": "assistant"} if n == 0 else {}
            part = {"delta": {**role, "content": piece}} if chat else {"text": piece}
            yield {**head, "choices": [{"index": choice["index"], **part, "finish_reason": None}]}
        end = {"delta": {}} if chat else {"text": ""}
        yield {**head, "choices": [{"index": choice["index"], **end,
                                    "finish_reason": choice["finish_reason"]}]}
    if usage:
        yield {**head, "choices": [], "usage": answer["usage"]}


@dataclass
class FakeOpenAIProcess:
    """The fake server in a child process (its own GIL: for benchmarks), stopped by its PID.

    Example:
        >>> with FakeOpenAIProcess(latency=0.01) as server:
        ...     server.base_url.startswith("http://127.0.0.1:"), server.count
        (True, 0)
    """

    latency: float = 0.0
    ignore_n: bool = False
    check_images: bool = True
    base_url: str = field(default="", init=False)
    _proc: Any = field(default=None, init=False, repr=False)

    def __enter__(self) -> FakeOpenAIProcess:
        cmd = [sys.executable, "-m", "socratic.testing", "--latency", str(self.latency)]
        cmd += ["--ignore-n"] * self.ignore_n + ["--no-image-check"] * (not self.check_images)
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        self.base_url = self._proc.stdout.readline().strip()
        if not self.base_url.startswith("http://127.0.0.1:"):
            self.__exit__()
            raise RuntimeError("the fake OpenAI server process did not start")
        return self

    @property
    def count(self) -> int:
        """Completion requests the server has received."""
        url = self.base_url.removesuffix("/v1") + "/_fake/stats"
        with urllib.request.urlopen(url, timeout=5) as r:
            return int(json.load(r)["requests"])

    def __exit__(self, *exc: object) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.terminate()
            try:
                proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()


def main(argv: list[str] | None = None) -> None:
    """``python -m socratic.testing --port 8123 --latency 0.1`` (runs until killed)."""
    parser = argparse.ArgumentParser(description="fake OpenAI-compatible server on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--ignore-n", action="store_true")
    parser.add_argument("--no-image-check", action="store_true", help="do not decode image data URLs")
    args = parser.parse_args(argv)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})  # before threads start
    server = FakeOpenAIServer(latency=args.latency, port=args.port, ignore_n=args.ignore_n,
                              check_images=not args.no_image_check).start()
    print(server.base_url, flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    server.stop()


if __name__ == "__main__":
    main()
