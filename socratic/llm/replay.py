"""The ``replay`` backend: answer from a JSONL file of recorded requests, or record one.

Each line is one request and its answers, in the same flat form whether a program recorded it or
a person wrote it::

    {"messages": [{"role": "user", "content": "Describe a cat"}], "texts": ["A cat ..."]}
    {"prompt": "Q: 2+2?", "texts": ["4"], "match": "messages"}

A line holds ``messages`` or ``prompt``, optional sampling options (``temperature``, ``top_p``,
``max_tokens``, ``stop``, ``seed``) and ``texts`` (one per sample). A request matches a line when
its messages (or prompt) and sampling options are equal; ``match: messages`` (on a line, or in
the config for every line) ignores the sampling options; a ``prompt`` and a chat holding just
one user message with that text are the same request. Lines with the same request add their
texts together, in file order; a request for ``n`` samples takes the first ``n``. Everything is
deterministic, and a request the file does not hold fails with an :class:`LLMError` naming the
file and the request's last user message.

``mode: record`` wraps another backend (``record_from: {backend: openai, model: ...}``): every
request goes to it, and request + texts are appended to ``path`` (never keys or headers).

Images are recorded and matched by content hash, never by bytes: an image part is written as
``{"type": "image", "image": "sha256:<hex>"}`` (the hash of the file's bytes or of the pixels,
see :func:`socratic.llm.images.image_digest`), so a recording stays small and a request with
the same picture matches wherever the file lives. A request's ``json_schema`` is matched too.

Example:
    >>> import json, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "answers.jsonl")
    >>> with open(path, "w") as f:
    ...     _ = f.write(json.dumps({"prompt": "Q: 2+2?", "texts": ["4"], "match": "messages"}))
    >>> ReplayLLM(path=path).generate({"prompt": "Q: 2+2?", "temperature": 0.3}).texts
    ['4']
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, ValidationError, model_validator

from ..cache import canonical_json, open_private
from ..errors import GraphError, LLMError, ModelLoadError
from ..models import build_backend
from .base import LLM, ChatMessage, LLMConfig, LLMRequest, LLMResult

_SAMPLING = ("temperature", "top_p", "max_tokens", "stop", "seed", "json_schema")


def _image_ref(value: Any) -> str:
    """A recorded image: its content hash (a ``sha256:`` string stays as it is)."""
    from ..types import Image
    from .images import image_digest

    if isinstance(value, Image) and value.path is not None and value.path.startswith("sha256:"):
        return value.path
    if isinstance(value, str) and value.startswith("sha256:"):
        return value
    return image_digest(value)


def recorded_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages as a recording holds them: image parts as ``{"type": "image", "image": HASH}``.

    Example:
        >>> recorded_messages([{"role": "user", "content": [
        ...     {"type": "image", "image": "sha256:ab"}, {"type": "text", "text": "hi"}]}])[0]["content"]
        [{'type': 'image', 'image': 'sha256:ab'}, {'type': 'text', 'text': 'hi'}]
    """
    out = []
    for m in messages:
        content = m["content"]
        if not isinstance(content, str):
            content = [{**p, "image": _image_ref(p["image"])} if p.get("type") == "image" else dict(p)
                       for p in content]
        out.append({"role": m["role"], "content": content})
    return out


class ReplayConfig(LLMConfig):
    """Options of the ``replay`` backend.

    Example:
        >>> ReplayConfig(path="answers.jsonl", match="messages").mode
        'replay'
    """

    path: str = Field(..., description="JSONL file of recorded requests and answers")
    mode: Literal["replay", "record"] = "replay"
    record_from: dict[str, Any] | None = Field(
        None, description="backend spec to record from, e.g. {backend: openai, model: gpt-4o}"
    )
    match: Literal["request", "messages"] = Field(
        "request", description="'messages': ignore sampling options when matching"
    )
    cache: bool = Field(False, description="the file is the cache; edits take effect at once")

    @model_validator(mode="after")
    def _record_needs_source(self) -> ReplayConfig:
        if self.mode == "record" and not self.record_from:
            raise ValueError("mode: record needs 'record_from' (the backend to record)")
        if self.record_from is not None:  # checked now (socratic validate), built when loaded
            from ..models import backend_class

            spec = dict(self.record_from)
            name = spec.pop("backend", None)
            if not name:
                raise ValueError("record_from needs a 'backend'")
            try:
                backend_class(str(name)).Config(**spec)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"]) or "record_from"
                raise ValueError(f"record_from ({name}): {where}: {first['msg']}") from None
            except GraphError as exc:
                raise ValueError(f"record_from: {exc.message}") from None
        return self


def request_key(request: LLMRequest | dict[str, Any], *, with_sampling: bool) -> str:
    """The canonical form a request is matched on (messages or prompt, +/- sampling options).

    Example:
        >>> request_key(LLMRequest(prompt="hi", temperature=0), with_sampling=False)
        '~{"prompt":"hi"}'
        >>> request_key({"prompt": "hi", "temperature": 0}, with_sampling=True)
        '={"prompt":"hi","temperature":0.0}'
    """
    if isinstance(request, LLMRequest):
        data = request.model_dump(exclude_none=True)
    else:
        data = {k: v for k, v in request.items() if v is not None}
    key: dict[str, Any] = {}
    if data.get("messages") is not None:
        messages = recorded_messages([ChatMessage(**m).model_dump() for m in data["messages"]])
        if len(messages) == 1 and messages[0]["role"] == "user" and isinstance(messages[0]["content"], str):
            key["prompt"] = messages[0]["content"]  # a prompt == one user message
        else:
            key["messages"] = messages
    else:
        key["prompt"] = data.get("prompt")
    if with_sampling:
        for name in _SAMPLING:
            if name in data:
                value = data[name]
                if name == "stop" and isinstance(value, str):
                    value = [value]
                elif name in ("temperature", "top_p"):
                    value = float(value)
                key[name] = value
    return ("=" if with_sampling else "~") + canonical_json(key)


class ReplayLLM(LLM):
    """Answers from a recorded JSONL file (``mode: replay``) or records one (``mode: record``).

    Example:
        >>> llm = ReplayLLM(path="demo.jsonl", match="messages")
        >>> llm.name
        'replay:demo.jsonl'

    In YAML: ``llm: {backend: replay, path: examples/recorded/captions.jsonl}``; to record:
    ``{backend: replay, mode: record, path: rec.jsonl, record_from: {backend: openai, model: m}}``.
    """

    backend: ClassVar[str] = "replay"
    Config: ClassVar[type[ReplayConfig]] = ReplayConfig
    default_concurrency: ClassVar[int] = 64
    config: ReplayConfig

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        self._write_lock = threading.Lock()

    def cache_identity(self) -> dict[str, Any]:
        return {"backend": self.backend, "path": str(Path(self.config.path).resolve())}

    def accepts_images(self) -> bool | None:
        """A recording holds whatever was asked (images by hash); recording asks the source."""
        if self.config.mode == "record":
            return build_backend(dict(self.config.record_from or {})).accepts_images()
        return True

    # -- loading ----------------------------------------------------------------------------
    def _load(self) -> Any:
        path = Path(self.config.path)
        if self.config.mode == "record":
            path.parent.mkdir(parents=True, exist_ok=True)
            return build_backend(dict(self.config.record_from or {}))
        if not path.is_file():
            raise ModelLoadError(
                f"replay file {path} not found (record one with mode: record and record_from)"
            )
        return self._read(path)

    def _read(self, path: Path) -> dict[str, list[str]]:
        table: dict[str, list[str]] = {}
        with path.open(encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    entry = json.loads(line)
                    texts = entry.pop("texts")
                    loose = entry.pop("match", self.config.match) == "messages"
                    entry.pop("model", None)
                    entry.pop("n", None)
                    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
                        raise ValueError("'texts' must be a list of strings")
                    LLMRequest(**entry)  # validates messages / prompt / options
                    key = request_key(entry, with_sampling=not loose)
                except (ValueError, KeyError, TypeError) as exc:
                    raise ModelLoadError(f"{path}:{lineno}: bad replay line: {exc}") from None
                table.setdefault(key, []).extend(texts)
        return table

    # -- answering --------------------------------------------------------------------------
    async def _agenerate(self, request: LLMRequest) -> LLMResult:
        if self.config.mode == "record":
            return await self._record(request)
        table: dict[str, list[str]] = self.resource()
        texts = table.get(request_key(request, with_sampling=True))
        if texts is None:
            texts = table.get(request_key(request, with_sampling=False))
        if texts is None:
            last = next((m.text for m in reversed(request.messages or []) if m.role == "user"),
                        request.prompt or "")
            shown = last if len(last) <= 200 else last[:200] + "..."
            raise LLMError(
                f"replay miss: {self.config.path} has no answer for the request with last user "
                f"message {shown!r} and options {request.sampling() or {}} "
                "(record it with mode: record, or add a line with match: messages)"
            )
        if len(texts) < request.n:
            last = (request.messages[-1].text if request.messages else request.prompt or "")[:200]
            raise LLMError(
                f"replay: {self.config.path} holds {len(texts)} answer(s) for the request with "
                f"last user message {last!r}, but {request.n} were asked for"
            )
        return LLMResult(texts=texts[: request.n], model=self.config.model or "replay")

    async def _record(self, request: LLMRequest) -> LLMResult:
        inner: LLM = self.resource()
        # straight to the wrapped backend (its cache would record stale answers; usage is
        # counted once, by this backend)
        result = await inner.send(inner.with_defaults(request))
        line = {
            **({"messages": recorded_messages(request.as_messages())} if request.messages else {}),
            **({"prompt": request.prompt} if request.prompt is not None else {}),
            **request.sampling(),
            **({"json_schema": request.json_schema} if request.json_schema is not None else {}),
            "texts": result.texts,
        }
        with self._write_lock, open_private(self.config.path, "a") as f:
            f.write(json.dumps(line, ensure_ascii=False) + "\n")
        return result
