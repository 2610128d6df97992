"""The ``openai`` backend: OpenAI's API, or any OpenAI-compatible server, via the official SDK.

Base URL: ``base_url`` in the config, else ``$OPENAI_BASE_URL``, else the SDK's default. API
key: the variable named by ``api_key_env`` (default ``OPENAI_API_KEY``); it is read when the model
loads, kept in memory only, and never logged, cached or shown in an error. Local servers rarely
check keys, so a loopback base URL (127.0.0.1, localhost, ::1) works without one (a placeholder is
sent), as does ``api_key_env: null`` for any server that needs no key. Otherwise a missing key is
an error naming the variable.

Transport (``transport``): ``auto`` (default) sends requests with a lean aiohttp client
(:mod:`socratic.llm.openai_direct`: the JSON body as built, the answer read as plain JSON) when
aiohttp is installed, else through the official SDK; ``sdk`` / ``sdk-aiohttp`` force the SDK
(on httpx / on aiohttp). Both classify failures the same way. ``bench/bench_openai_transport.py``
measures them against the raw SDK and LangChain.

Retries (tenacity; the SDK's own retries are off): 429, 408/409 and 5xx answers, timeouts and
connection errors, with exponential backoff and jitter; a ``Retry-After`` header is honoured (up
to ``retry_after_max`` seconds). 400/401/403/404/422 fail at once. ``n`` > 1 is sent as ``n``;
when a server returns fewer choices, the rest come from extra requests.

Images (chat API): each image part is sent as an ``image_url`` content part holding a ``data:``
URL (PNG / JPEG / GIF / WebP files byte for byte, other images as PNG), with ``detail`` when
set (the part's own, else the model's ``detail``). ``max_image_side`` shrinks larger images
first (tokens cost money); the encoding of one image is computed once per process
(:mod:`socratic.llm.images`). ``http(s)://`` images are sent as URLs.

Structured answers: a request's ``json_schema`` is sent as ``response_format: {type:
json_schema, json_schema: {name, schema, strict}}`` (``response_format: false`` on the model
leaves it out; the node still validates the answer). Streaming (:meth:`LLM.astream`) uses the
server's SSE stream with ``stream_options.include_usage``.

Example:
    >>> from socratic.testing import FakeOpenAIServer
    >>> with FakeOpenAIServer() as server:
    ...     llm = OpenAILLM(model="tiny", base_url=server.base_url, cache=False)
    ...     llm.generate({"prompt": "hello", "n": 2}).texts
    ['echo: hello', 'echo: hello']
"""

from __future__ import annotations

import asyncio
import os
import re
import weakref
from collections.abc import AsyncIterator
from typing import Any, ClassVar, Literal
from urllib.parse import urlparse

from pydantic import Field, model_validator

from .. import usage
from ..errors import LLMError, ModelLoadError
from .base import LLM, LLMChunk, LLMConfig, LLMRequest, LLMResult, TokenUsage
from .openai_direct import JSONSafe
from .openai_errors import MalformedResponse, is_retryable, retry_after, to_llm_error
from .retry import RetryPolicy, call_with_retries

DEFAULT_BASE_URL = "https://api.openai.com/v1"
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
_PLACEHOLDER_KEY = "no-key"


class OpenAIConfig(LLMConfig):
    """Options of the ``openai`` backend (plus the shared sampling defaults of LLMConfig).

    Example:
        >>> OpenAIConfig(model="gpt-4o-mini", max_attempts=3).api
        'chat'
    """

    api: Literal["chat", "completions"] = Field("chat", description="chat or legacy completions")
    base_url: str | None = Field(None, description="server URL; else $OPENAI_BASE_URL")
    api_key_env: str | None = Field(
        "OPENAI_API_KEY", description="environment variable holding the key; null: no key"
    )
    timeout: float = Field(60.0, gt=0, description="seconds per attempt")
    max_attempts: int = Field(5, ge=1, description="attempts per request, the first included")
    backoff_initial: float = Field(0.5, ge=0, description="first backoff wait (seconds)")
    backoff_max: float = Field(20.0, ge=0, description="longest backoff wait (seconds)")
    retry_after_max: float = Field(60.0, ge=0, description="cap on a server's Retry-After")
    extra_body: dict[str, Any] | None = Field(None, description="extra JSON fields to send")
    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] = Field(
        "max_tokens", description="chat: the name newer OpenAI models want is max_completion_tokens"
    )
    detail: Literal["auto", "low", "high"] | None = Field(
        None, description="image detail sent with every image (unless a part sets its own)"
    )
    max_image_side: int | None = Field(
        None, ge=16, description="shrink images whose longer side is larger, before sending"
    )
    max_image_bytes: int | None = Field(
        20_000_000, ge=1, description="largest encoded image sent (set max_image_side to shrink)"
    )
    max_image_pixels: int | None = Field(
        50_000_000, ge=1, description="images with more pixels are refused before decoding"
    )
    response_format: bool = Field(
        True, description="send a json_schema request as response_format (false: the prompt asks)"
    )
    vision: bool | None = Field(
        None, description="whether the model sees images (null: unknown, the server decides)"
    )
    transport: Literal["auto", "direct", "sdk", "sdk-aiohttp"] = Field(
        "auto", description="direct: a lean aiohttp client (fastest); sdk: the openai SDK (httpx);"
        " sdk-aiohttp: the SDK on aiohttp; auto: direct when aiohttp is installed, else sdk"
    )

    @model_validator(mode="after")
    def _model_given(self) -> OpenAIConfig:
        if not self.model:
            raise ValueError("the openai backend needs a 'model' name")
        if self.api_key_env is not None and not re.fullmatch(r"[A-Z][A-Z0-9_]*API_KEY", self.api_key_env):
            raise ValueError(
                f"api_key_env must name an API-key variable (like OPENAI_API_KEY or "
                f"GROQ_API_KEY), not {self.api_key_env!r}"
            )
        return self


def _trusted_hosts() -> set[str]:
    """Hosts a key may be sent to: OpenAI's, $OPENAI_BASE_URL's, loopback, and the comma-separated
    $SOCRATIC_TRUSTED_HOSTS (a graph file alone cannot send your key somewhere new)."""
    hosts = {"api.openai.com", *_LOOPBACK}
    env_url = os.environ.get("OPENAI_BASE_URL")
    if env_url:
        hosts.add((urlparse(env_url).hostname or "").lower())
    extra = os.environ.get("SOCRATIC_TRUSTED_HOSTS", "")
    hosts.update(h.strip().lower() for h in extra.split(",") if h.strip())
    return hosts


class _Endpoint:
    """Where to send requests and with which key (the key is hidden from repr)."""

    def __init__(self, base_url: str, api_key: str, key_env: str | None) -> None:
        self.base_url = base_url
        self.api_key = api_key
        self.key_env = key_env

    def __repr__(self) -> str:
        return f"_Endpoint(base_url={self.base_url!r})"


async def _close_at_shutdown(client: Any) -> AsyncIterator[None]:
    """Suspended until its loop finalises async generators, then closes ``client``."""
    try:
        yield
    finally:
        await client.close()


class OpenAILLM(LLM):
    """An OpenAI (or OpenAI-compatible) chat / completions model.

    Example:
        >>> llm = OpenAILLM(model="gpt-4o-mini", temperature=0, max_attempts=3)
        >>> llm.name
        'openai:gpt-4o-mini'
        >>> llm.to_spec()["max_attempts"]
        3

    In YAML: ``llm: {backend: openai, model: gpt-4o-mini, base_url: http://127.0.0.1:8000/v1}``.
    """

    backend: ClassVar[str] = "openai"
    Config: ClassVar[type[OpenAIConfig]] = OpenAIConfig
    default_concurrency: ClassVar[int] = 16
    config: OpenAIConfig

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        self._clients: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()

    # -- loading ----------------------------------------------------------------------------
    def base_url(self) -> str:
        url = self.config.base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        return url.rstrip("/")

    def _load(self) -> _Endpoint:
        url = self.base_url()
        env = self.config.api_key_env
        key = os.environ.get(env, "") if env else ""
        host = (urlparse(url).hostname or "").lower()
        if key and host not in _trusted_hosts():
            raise ModelLoadError(
                f"refusing to send {env} to {host}, a server named in the graph: set "
                f"OPENAI_BASE_URL to it, or add it to SOCRATIC_TRUSTED_HOSTS"
            )
        if not key:
            host = (urlparse(url).hostname or "").lower()
            if env and host not in _LOOPBACK:
                raise ModelLoadError(
                    f"no API key for model '{self.config.model}' at {url}: set the environment "
                    f"variable {env} (or name another one with api_key_env; use api_key_env: null "
                    "for a server that needs no key)"
                )
            key = _PLACEHOLDER_KEY
        return _Endpoint(url, key, env)

    async def _client(self) -> Any:
        """One AsyncOpenAI client per event loop (its connection pool belongs to that loop).

        The client is closed when its loop shuts down (``asyncio.run`` finalises async
        generators), so a later loop never inherits it (the SDK would try to close it there).
        """
        endpoint: _Endpoint = self.resource()
        loop = asyncio.get_running_loop()
        entry = self._clients.get(loop)
        if entry is None:
            for old in [lp for lp in self._clients if lp.is_closed()]:
                del self._clients[old]  # closed with its loop; the entry kept the loop alive

            if self._direct():
                from .openai_direct import DirectClient

                client: Any = DirectClient(endpoint.base_url, endpoint.api_key, timeout=self.config.timeout,
                                           limit=max(64, self.max_concurrency * 2))
            else:
                from openai import AsyncOpenAI

                client = AsyncOpenAI(
                    api_key=endpoint.api_key,
                    base_url=endpoint.base_url,
                    max_retries=0,
                    timeout=self.config.timeout,
                    http_client=self._http_client(),
                )
            closer = _close_at_shutdown(client)
            await closer.__anext__()
            entry = self._clients[loop] = (client, closer)
        return entry[0]

    def _direct(self) -> bool:
        """Whether requests go through the lean aiohttp client (see ``transport``)."""
        mode = self.config.transport
        if mode == "direct":
            return True
        if mode != "auto":
            return False
        import importlib.util

        return importlib.util.find_spec("aiohttp") is not None

    def _http_client(self) -> Any:
        """The SDK's HTTP client for ``transport`` (None: the SDK's own default)."""
        if self.config.transport == "sdk-aiohttp":
            import openai

            try:
                return openai.DefaultAioHttpClient(timeout=self.config.timeout)
            except RuntimeError:
                raise ModelLoadError("transport: aiohttp needs the aiohttp package"
                                     " (pip install 'openai[aiohttp]')") from None
        return None

    def cache_identity(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "model": self.config.model,
            "api": self.config.api,
            "base_url": self.base_url(),
            "extra_body": self.config.extra_body,
            "max_tokens_field": self.config.max_tokens_field,
        }

    @property
    def enforces_json_schema(self) -> bool:  # type: ignore[override]
        return self.config.response_format and self.config.api == "chat"

    def accepts_images(self) -> bool | None:
        return False if self.config.api == "completions" else self.config.vision

    def image_send_options(self) -> dict[str, Any]:
        c = self.config
        return {"detail": c.detail, "max_side": c.max_image_side, "max_bytes": c.max_image_bytes}

    def _content(self, content: Any) -> Any:
        """Socratic content parts -> OpenAI content parts (images as data URLs, memoised)."""
        if isinstance(content, str):
            return content
        from .images import data_url

        c = self.config
        out: list[dict[str, Any]] = []
        for p in content:
            if p["type"] == "text":
                out.append(p)
                continue
            url = data_url(p["image"], max_side=c.max_image_side, max_bytes=c.max_image_bytes,
                           max_pixels=c.max_image_pixels).url
            if url.startswith("data:"):  # base64: spliced into the body unscanned
                url = JSONSafe(url)
            detail = p.get("detail") or c.detail
            out.append({"type": "image_url",
                        "image_url": {"url": url, **({"detail": detail} if detail else {})}})
        return out

    # -- calls ------------------------------------------------------------------------------
    def _params(self, request: LLMRequest, n: int) -> dict[str, Any]:
        params: dict[str, Any] = {"model": self.config.model, **request.sampling()}
        if n > 1:
            params["n"] = n
        if self.config.extra_body:
            params["extra_body"] = self.config.extra_body
        if self.config.api == "chat":
            params["messages"] = [{"role": m["role"], "content": self._content(m["content"])}
                                  for m in request.as_messages()]
            if "max_tokens" in params and self.config.max_tokens_field != "max_tokens":
                params[self.config.max_tokens_field] = params.pop("max_tokens")
            if request.json_schema is not None and self.config.response_format:
                params["response_format"] = {"type": "json_schema", "json_schema": request.json_schema}
        else:
            params["prompt"] = request.as_prompt()
        return params

    async def _once(self, client: Any, params: dict[str, Any]) -> tuple[list[str], TokenUsage]:
        """One request through the SDK's HTTP pipeline (auth, timeouts, its error types), the
        body sent as built and the answer read as plain JSON: the SDK's per-request transform
        of the parameters and its response models are skipped (about a third of its CPU)."""
        chat = self.config.api == "chat"
        body = dict(params)
        extra = body.pop("extra_body", None)
        if extra:
            body.update(extra)
        path = "/chat/completions" if chat else "/completions"
        if hasattr(client, "stream"):  # the direct client
            response = await client.post(path, body)
        else:
            response = await client.post(path, body=body, cast_to=dict)
        choices = response.get("choices") if isinstance(response, dict) else None
        if not isinstance(choices, list) or not choices:
            raise MalformedResponse("no 'choices' in the response body")
        texts: list[str] = []
        for choice in sorted(choices, key=lambda c: (c.get("index") or 0) if isinstance(c, dict) else 0):
            if not isinstance(choice, dict):
                raise MalformedResponse("a choice is not an object")
            if chat:
                message = choice.get("message")
                if not isinstance(message, dict):
                    raise MalformedResponse("a choice has no 'message'")
                text = message.get("content")
            else:
                text = choice.get("text")
                if text is None:
                    raise MalformedResponse("a choice has no 'text'")
            texts.append(text or "")
        u = response.get("usage") or {}
        tokens = TokenUsage(
            prompt_tokens=int(u.get("prompt_tokens", 0) or 0) if isinstance(u, dict) else 0,
            completion_tokens=int(u.get("completion_tokens", 0) or 0) if isinstance(u, dict) else 0,
        )
        return texts, tokens

    def _policy(self) -> RetryPolicy:
        return RetryPolicy(
            attempts=self.config.max_attempts,
            initial=self.config.backoff_initial,
            max_wait=self.config.backoff_max,
            retry_after_max=self.config.retry_after_max,
        )

    def _error(self, exc: Exception, endpoint: _Endpoint, params: dict[str, Any]) -> Exception:
        usage.record(errors=1)
        if isinstance(exc, LLMError):  # ours already (an image that cannot be sent)
            return exc
        error = to_llm_error(
            exc,
            model=self.config.model,
            base_url=endpoint.base_url,
            attempts=self.config.max_attempts,
            timeout=self.config.timeout,
            key_env=endpoint.key_env,
            secrets=[endpoint.api_key],
        )
        status = getattr(exc, "status_code", None)
        if status in (400, 422) and "response_format" in params:
            error = LLMError(f"{error} (the request sent response_format json_schema"
                             f" '{params['response_format']['json_schema']['name']}': if the server"
                             " rejects schemas, set response_format: false on the model and the"
                             " node validates the answer itself)")
        elif status in (400, 422) and _has_image_parts(params):
            error = LLMError(f"{error} (the request holds images: does model"
                             f" '{self.config.model}' see images?)")
        return error

    async def _agenerate(self, request: LLMRequest) -> LLMResult:
        client = await self._client()
        endpoint: _Endpoint = self.resource()
        policy = self._policy()
        texts: list[str] = []
        total = TokenUsage()
        sent = 0
        while len(texts) < request.n:
            params: dict[str, Any] = {}
            try:
                params = self._params(request, request.n - len(texts))
                got, tokens = await call_with_retries(
                    lambda params=params: self._once(client, params),
                    policy,
                    retryable=is_retryable,
                    retry_after=retry_after,
                )
            except Exception as exc:
                raise self._error(exc, endpoint, params) from None
            sent += 1
            if sent > 1:  # the base class counts the first request
                usage.record(requests=1)
            texts.extend(got[: request.n - len(texts)])
            total.prompt_tokens += tokens.prompt_tokens
            total.completion_tokens += tokens.completion_tokens
        return LLMResult(texts=texts, usage=total, model=self.config.model)

    async def _astream(self, request: LLMRequest) -> AsyncIterator[LLMChunk]:
        """Native SSE streaming (chat and completions); retries happen before the first chunk."""
        client = await self._client()
        endpoint: _Endpoint = self.resource()
        params: dict[str, Any] = {}
        chat = self.config.api == "chat"
        try:
            params = {**self._params(request, request.n), "stream": True,
                      "stream_options": {"include_usage": True}}
            events = await call_with_retries(lambda: self._open_stream(client, params), self._policy(),
                                             retryable=is_retryable, retry_after=retry_after)
            texts: dict[int, list[str]] = {}
            tokens = TokenUsage()
            async for event in events:
                u = event.get("usage")
                if isinstance(u, dict):
                    tokens = TokenUsage(prompt_tokens=int(u.get("prompt_tokens") or 0),
                                        completion_tokens=int(u.get("completion_tokens") or 0))
                for choice in event.get("choices") or []:
                    delta = (choice.get("delta") or {}).get("content") if chat else choice.get("text")
                    index = int(choice.get("index") or 0)
                    if delta:
                        texts.setdefault(index, []).append(delta)
                        yield LLMChunk(text=delta, index=index)
        except Exception as exc:
            raise self._error(exc, endpoint, params) from None
        got = ["".join(texts.get(i, [])) for i in range(request.n)]
        if len(texts) < request.n and request.n > 1:  # the server gave fewer choices: ask again
            rest = await self._agenerate(request.model_copy(update={"n": request.n - len(texts)}))
            got = [*("".join(texts[i]) for i in sorted(texts)), *rest.texts]
            tokens.prompt_tokens += rest.usage.prompt_tokens
            tokens.completion_tokens += rest.usage.completion_tokens
        yield LLMChunk(result=LLMResult(texts=got, usage=tokens, model=self.config.model))

    async def _open_stream(self, client: Any, params: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """Start a streamed request (its first event read, so failures to start are retried)."""
        chat = self.config.api == "chat"
        body = dict(params)
        extra = body.pop("extra_body", None)
        if extra:
            body.update(extra)
        path = "/chat/completions" if chat else "/completions"
        if hasattr(client, "stream"):
            source: Any = client.stream(path, body)
        else:
            from openai import AsyncStream

            sdk = await client.post(path, body=body, cast_to=dict, stream=True, stream_cls=AsyncStream[dict])
            source = sdk.__aiter__()
        try:
            first = await source.__anext__()
        except StopAsyncIteration:
            first = None

        async def events() -> AsyncIterator[dict[str, Any]]:
            if first is None:
                return
            yield first
            async for event in source:
                yield event

        return events()

    async def aclose(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        entry = self._clients.pop(loop, None)
        if entry is not None:
            await entry[0].close()
            await entry[1].aclose()


def _has_image_parts(params: dict[str, Any]) -> bool:
    return any(isinstance(m.get("content"), list) and any(p.get("type") == "image_url" for p in m["content"])
               for m in params.get("messages", []))
