"""The LLM interface every backend implements: one async call, the same options everywhere.

A request carries either chat ``messages`` or a plain ``prompt`` plus sampling options. A
message's content is text, or a list of parts: ``{"type": "text", "text": ...}`` and
``{"type": "image", "image": IMAGE}`` (a path, PIL image or :class:`~socratic.types.Image`;
``detail`` optional), in order. ``json_schema`` asks for an answer that is JSON of that schema
(``{"name", "schema", "strict"}``): backends that can enforce it do (OpenAI's ``response_format``,
constrained decoding); the caller validates either way.

The base class validates a request, answers what it can from the cache (each sample index
cached on its own, so ``n=5`` at temperature 0.7 stays five honest samples; images enter the key
as content hashes, with the backend's send options), sends only the missing samples to the
backend, and records usage. Backends implement :meth:`LLM._agenerate`, and may implement
:meth:`LLM._astream` (token deltas); :meth:`LLM.astream` gives cache hits as one chunk.

Example:
    >>> import asyncio
    >>> from socratic.llm.base import LLM, LLMRequest, LLMResult
    >>> class Shout(LLM):
    ...     backend = "shout"
    ...     async def _agenerate(self, request):
    ...         text = request.as_messages()[-1]["content"].upper()
    ...         return LLMResult(texts=[text] * request.n)
    >>> Shout(model="s", cache=False).generate(LLMRequest(prompt="hi")).texts
    ['HI']
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .. import usage
from ..cache import request_key
from ..errors import InputError, LLMError
from ..models import BackendConfig, ModelBackend


class ChatMessage(BaseModel):
    """One chat message: text, or a list of text and image parts.

    Example:
        >>> m = ChatMessage(role="user", content=[{"type": "image", "image": "cat.png"},
        ...                                       {"type": "text", "text": "What is this?"}])
        >>> m.content[0]["image"], m.text
        (Image('cat.png'), 'What is this?')
    """

    model_config = ConfigDict(extra="forbid")
    role: Literal["system", "user", "assistant"]
    content: str | list[dict[str, Any]]

    @field_validator("content", mode="after")
    @classmethod
    def _parts(cls, v: Any) -> Any:
        return v if isinstance(v, str) else normalize_parts(v)

    @property
    def text(self) -> str:
        return content_text(self.content)


def normalize_parts(parts: list[Any]) -> list[dict[str, Any]]:
    """Check content parts and turn image values into :class:`Image` objects."""
    from ..types import Image

    out: list[dict[str, Any]] = []
    for i, part in enumerate(parts):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str) and set(part) <= {"type", "text"}:
            out.append(part)
        elif kind == "image" and "image" in part and set(part) <= {"type", "image", "detail"}:
            try:
                image = Image.from_value(part["image"])
            except TypeError as exc:
                raise ValueError(f"content part {i}: {exc}") from None
            detail = part.get("detail")
            if detail not in (None, "auto", "low", "high"):
                raise ValueError(f"content part {i}: detail must be auto, low or high, not {detail!r}")
            out.append({"type": "image", "image": image, **({"detail": detail} if detail else {})})
        else:
            raise ValueError(
                f"content part {i} must be {{type: text, text}} or {{type: image, image[, detail]}},"
                f" got {str(part)[:80]}"
            )
    return out


def content_text(content: str | list[dict[str, Any]]) -> str:
    """The text of a message's content (image parts left out)."""
    if isinstance(content, str):
        return content
    return "".join(p["text"] for p in content if p["type"] == "text")


def content_images(content: str | list[dict[str, Any]]) -> list[Any]:
    """The images of a message's content, in order."""
    return [] if isinstance(content, str) else [p["image"] for p in content if p["type"] == "image"]


class LLMRequest(BaseModel):
    """What to ask: messages or a prompt, and how to sample.

    Example:
        >>> LLMRequest(prompt="Q: 2+2?", temperature=0, max_tokens=5).as_messages()
        [{'role': 'user', 'content': 'Q: 2+2?'}]
        >>> LLMRequest(prompt="x", n=0)
        Traceback (most recent call last):
        pydantic_core._pydantic_core.ValidationError: 1 validation error for LLMRequest
        n
          Input should be greater than or equal to 1 [type=greater_than_equal, input_value=0, input_type=int]
            For further information visit https://errors.pydantic.dev/2.14/v/greater_than_equal
    """

    model_config = ConfigDict(extra="forbid")
    messages: list[ChatMessage] | None = None
    prompt: str | None = None
    n: int = Field(1, ge=1, le=128)
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    max_tokens: int | None = Field(None, ge=1)
    stop: list[str] | None = None
    seed: int | None = None
    json_schema: dict[str, Any] | None = None

    @field_validator("stop", mode="before")
    @classmethod
    def _stop_list(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @model_validator(mode="after")
    def _one_of(self) -> LLMRequest:
        if (self.messages is None) == (self.prompt is None):
            raise ValueError("give exactly one of 'messages' or 'prompt'")
        return self

    def as_messages(self) -> list[dict[str, Any]]:
        if self.messages is not None:
            return [{"role": m.role, "content": m.content} for m in self.messages]
        return [{"role": "user", "content": self.prompt or ""}]

    @property
    def images(self) -> list[Any]:
        """Every image of the request, in message order."""
        return [im for m in self.messages or [] for im in content_images(m.content)]

    def as_prompt(self) -> str:
        """Flatten to one string (for completion-style backends without a chat template)."""
        if self.prompt is not None:
            return self.prompt
        if self.images:
            raise LLMError("this request holds images: a text-only prompt cannot carry them")
        parts = []
        for m in self.messages or []:
            parts.append(m.text if m.role == "user" else f"{m.role.capitalize()}: {m.text}")
        return "\n\n".join(parts)

    def sampling(self) -> dict[str, Any]:
        """The sampling options that are set (without n)."""
        return self.model_dump(
            include={"temperature", "top_p", "max_tokens", "stop", "seed"}, exclude_none=True
        )


class TokenUsage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class LLMResult(BaseModel):
    """What came back: one text per sample, token usage, and how many came from the cache.

    Example:
        >>> LLMResult(texts=["a", "b"]).text
        'a'
    """

    texts: list[str]
    usage: TokenUsage = Field(default_factory=TokenUsage)
    cached: int = 0
    model: str = ""

    @property
    def text(self) -> str:
        return self.texts[0]


class LLMChunk(BaseModel):
    """A piece of a streamed answer: ``text`` added to sample ``index``; the last chunk of a
    stream carries the whole ``result`` (and no text).

    Example:
        >>> LLMChunk(text="Hel").text
        'Hel'
    """

    text: str = ""
    index: int = 0
    result: LLMResult | None = None


class LLMConfig(BackendConfig):
    """Options shared by every LLM backend; a request's own options win over these defaults."""

    model: str = Field("", description="model name, hub id or local directory")
    temperature: float | None = Field(None, ge=0.0, le=2.0, description="default sampling temperature")
    top_p: float | None = Field(None, gt=0.0, le=1.0, description="default nucleus sampling mass")
    max_tokens: int | None = Field(None, ge=1, description="default cap on generated tokens")
    stop: list[str] | None = Field(None, description="default stop strings")
    seed: int | None = Field(None, description="default sampling seed")
    max_concurrency: int | None = Field(None, ge=1, description="calls in flight at once")
    cache: bool = Field(True, description="use the response cache")


class LLM(ModelBackend):
    """Base class of LLM backends (async first; ``generate`` is the sync convenience).

    Example:
        >>> from socratic.llm.replay import ReplayLLM   # doctest: +SKIP
    """

    kind: ClassVar[str] = "llm"
    Config: ClassVar[type[BackendConfig]] = LLMConfig
    default_concurrency: ClassVar[int] = 8
    #: whether sampling params are honoured (False for deterministic local echo-type backends)
    supports_n: ClassVar[bool] = True
    #: whether the backend itself enforces ``json_schema`` (else the caller's prompt asks for it)
    enforces_json_schema: ClassVar[bool] = False

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        self._semaphore: asyncio.Semaphore | None = None
        self._semaphore_loop: Any = None

    # -- what backends implement ----------------------------------------------------------
    async def _agenerate(self, request: LLMRequest) -> LLMResult:  # pragma: no cover - abstract
        raise NotImplementedError

    def cache_identity(self) -> dict[str, Any]:
        """What identifies this model in cache keys (backend + model id; never credentials)."""
        return {"backend": self.backend, "model": getattr(self.config, "model", "")}

    def accepts_images(self) -> bool | None:
        """Whether this model can see images: True, False, or None when only the model can tell
        (an API model name). Must not load the model (``socratic validate`` asks)."""
        return None

    def image_send_options(self) -> dict[str, Any]:
        """Options that change how images are sent (they enter cache keys with each image's
        content hash)."""
        return {}

    def check_images(self, request: LLMRequest) -> None:
        """A clear error, naming the model, for images sent to a model without vision."""
        if request.images and self.accepts_images() is False:
            raise LLMError(
                f"model '{self.name}' cannot see images (a text-only model), but the request holds"
                f" {len(request.images)}: use a vision-language model"
            )

    def cache_base(self, request: LLMRequest) -> dict[str, Any]:
        """What a request's cache key is made of (images as content hashes, never bytes)."""
        base: dict[str, Any] = {
            **self.cache_identity(),
            "messages": request.messages and _keyed_messages(request),
            "prompt": request.prompt,
            **request.sampling(),
        }
        if request.images:
            base["image_options"] = self.image_send_options()
        if request.json_schema is not None:
            base["json_schema"] = request.json_schema
        return base

    # -- the public interface -----------------------------------------------------------
    def with_defaults(self, request: LLMRequest) -> LLMRequest:
        """Fill the options the request leaves unset from the model's config (both validated
        already, so no second validation)."""
        defaults = self.__dict__.get("_defaults")
        if defaults is None:
            defaults = self._defaults = self.config.model_dump(
                include={"temperature", "top_p", "max_tokens", "stop", "seed"}, exclude_none=True
            )
        missing = {k: v for k, v in defaults.items() if getattr(request, k) is None}
        return request.model_copy(update=missing) if missing else request

    def _sem(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._semaphore is None or self._semaphore_loop is not loop:
            self._semaphore = asyncio.Semaphore(self.max_concurrency)
            self._semaphore_loop = loop
        return self._semaphore

    async def agenerate(self, request: LLMRequest | dict[str, Any] | str) -> LLMResult:
        """Answer a request, using the cache per sample index; only misses reach the backend."""
        request = self.with_defaults(_as_request(request))
        self.check_images(request)
        cache = self.response_cache() if getattr(self.config, "cache", True) else None
        keys: list[str] = []
        hits: dict[str, Any] = {}
        if cache is not None:
            base = self.cache_base(request)
            keys = [request_key({**base, "sample": i}) for i in range(request.n)]
            hits = cache.get_many("llm", keys)
        missing = [k for k in keys if k not in hits] if cache is not None else []
        n_missing = len(missing) if cache is not None else request.n
        fresh = LLMResult(texts=[])
        if n_missing:
            fresh = await self.send(request.model_copy(update={"n": n_missing}))
            if len(fresh.texts) != n_missing:
                raise RuntimeError(
                    f"{self.name} returned {len(fresh.texts)} samples, expected {n_missing}"
                )
            usage.record(
                requests=1,
                prompt_tokens=fresh.usage.prompt_tokens,
                completion_tokens=fresh.usage.completion_tokens,
            )
            if cache is not None:
                cache.put_many("llm", dict(zip(missing, ({"text": t} for t in fresh.texts), strict=True)))
        if cache is None:
            return fresh
        if hits:
            usage.record(cache_hits=len(hits))
        it = iter(fresh.texts)
        texts = [hits[k]["text"] if k in hits else next(it) for k in keys]
        return LLMResult(texts=texts, usage=fresh.usage, cached=len(hits), model=fresh.model)

    async def send(self, request: LLMRequest) -> LLMResult:
        """Send a request to the backend as it is: no cache, no usage count, under this model's
        concurrency limit (a recorder that wraps this model uses it)."""
        async with self._sem():
            return await self._agenerate(request)

    async def astream(self, request: LLMRequest | dict[str, Any] | str) -> AsyncIterator[LLMChunk]:
        """Answer a request as a stream of :class:`LLMChunk`: token deltas when the backend
        streams (and nothing is cached), else each sample as one chunk; the last chunk carries
        the whole result. Cached and recorded like :meth:`agenerate`.

        Example:
            >>> import asyncio
            >>> class Two(LLM):
            ...     backend = "two"
            ...     async def _agenerate(self, request):
            ...         return LLMResult(texts=["ab"] * request.n)
            >>> async def main():
            ...     return [c.text async for c in Two(cache=False).astream("hi")]
            >>> asyncio.run(main())
            ['ab', '']
        """
        request = self.with_defaults(_as_request(request))
        self.check_images(request)
        cache = self.response_cache() if getattr(self.config, "cache", True) else None
        keys: list[str] = []
        if cache is not None:
            keys = [request_key({**self.cache_base(request), "sample": i}) for i in range(request.n)]
            if len(cache.get_many("llm", keys)) == request.n:
                result = await self.agenerate(request)
                for i, text in enumerate(result.texts):
                    yield LLMChunk(text=text, index=i)
                yield LLMChunk(result=result)
                return
        if type(self)._astream is LLM._astream:
            result = await self.agenerate(request)
            for i, text in enumerate(result.texts):
                yield LLMChunk(text=text, index=i)
            yield LLMChunk(result=result)
            return
        result = None
        async with self._sem():
            async for chunk in self._astream(request):
                if chunk.result is not None:
                    result = chunk.result
                else:
                    yield chunk
        if result is None or len(result.texts) != request.n:
            raise RuntimeError(f"{self.name} streamed no complete result")
        usage.record(requests=1, prompt_tokens=result.usage.prompt_tokens,
                     completion_tokens=result.usage.completion_tokens)
        if cache is not None:
            cache.put_many("llm", {k: {"text": t} for k, t in zip(keys, result.texts, strict=True)})
        yield LLMChunk(result=result)

    async def _astream(self, request: LLMRequest) -> AsyncIterator[LLMChunk]:
        """Backends that stream yield text chunks, then one chunk with the whole result."""
        raise NotImplementedError
        yield  # pragma: no cover

    def generate(self, request: LLMRequest | dict[str, Any] | str) -> LLMResult:
        """Synchronous :meth:`agenerate` (not from inside a running event loop)."""
        return asyncio.run(self.agenerate(request))

    async def aclose(self) -> None:
        """Release clients / connections (optional)."""


def _as_request(request: LLMRequest | dict[str, Any] | str) -> LLMRequest:
    if isinstance(request, LLMRequest):
        return request
    if isinstance(request, str):
        return LLMRequest(prompt=request)
    try:
        return LLMRequest(**request)
    except ValueError as exc:
        raise InputError(f"invalid LLM request: {exc}") from None


def _keyed_messages(request: LLMRequest) -> list[dict[str, Any]]:
    """Messages for a cache key: each image replaced by its content hash (and detail)."""
    from .images import image_digest

    out: list[dict[str, Any]] = []
    for m in request.messages or []:
        content: Any = m.content
        if not isinstance(content, str):
            content = [
                p if p["type"] == "text"
                else {"type": "image", "sha": image_digest(p["image"]), "detail": p.get("detail")}
                for p in content
            ]
        out.append({"role": m.role, "content": content})
    return out
