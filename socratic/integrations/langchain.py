"""LangChain export: a socratic LLM as a LangChain chat model, and a graph as a Runnable.

Needs ``langchain-core`` (the ``langchain`` extra).

Example:
    >>> import json, os, tempfile
    >>> from socratic.llm.replay import ReplayLLM
    >>> path = os.path.join(tempfile.mkdtemp(), "r.jsonl")
    >>> with open(path, "w") as f:
    ...     _ = f.write(json.dumps({"prompt": "hi", "texts": ["hello!"], "match": "messages"}))
    >>> chat = SocraticChatModel(llm=ReplayLLM(path=path))
    >>> chat.invoke("hi").content
    'hello!'
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any, TypeVar

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.base import LangSmithParams
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, ChatMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableConfig
from pydantic import ConfigDict, Field, PrivateAttr, model_validator

from ..llm.base import LLM, LLMRequest
from ..models import build_backend

T = TypeVar("T")
_ROLES = {"system": "system", "human": "user", "user": "user", "ai": "assistant",
          "assistant": "assistant"}


def _run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine from sync code, also when the caller is inside a running loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _image_of(block: dict[str, Any]) -> Any:
    """An image content block (OpenAI ``image_url``, v1 ``image`` with base64 / url, v0
    ``source_type``) -> a socratic Image (data URLs decoded; http(s) URLs kept as URLs)."""
    from ..llm.images import decode_data_url
    from ..types import Image

    kind = block.get("type")
    if kind == "image_url":
        ref = block.get("image_url")
        url = ref.get("url") if isinstance(ref, dict) else ref
    elif block.get("base64") or block.get("source_type") == "base64":
        data = block.get("base64") or block.get("data")
        url = f"data:{block.get('mime_type') or 'image/png'};base64,{data}"
    else:
        url = block.get("url")
    if not isinstance(url, str) or not url.startswith(("data:", "http://", "https://")):
        raise ValueError(f"SocraticChatModel reads images as data: or http(s) URLs or base64, not"
                         f" {str(block)[:80]}")
    return decode_data_url(url) if url.startswith("data:") else Image(url)


def _content(message: BaseMessage) -> str | list[dict[str, Any]]:
    """A LangChain message's content as socratic content: text, or text and image parts."""
    content = message.content
    if isinstance(content, str):
        return content
    parts: list[dict[str, Any]] = []
    for block in content:
        if isinstance(block, str):
            parts.append({"type": "text", "text": block})
        elif isinstance(block, dict) and block.get("type") == "text":
            parts.append({"type": "text", "text": str(block.get("text", ""))})
        elif isinstance(block, dict) and block.get("type") in ("image", "image_url"):
            detail = (block.get("image_url") or {}).get("detail") if block.get("type") == "image_url" \
                and isinstance(block.get("image_url"), dict) else None
            extra = {"detail": detail} if detail else {}
            parts.append({"type": "image", "image": _image_of(block), **extra})
        else:
            kind = block.get("type") if isinstance(block, dict) else type(block).__name__
            raise ValueError(f"SocraticChatModel handles text and images, not '{kind}' content")
    if all(p["type"] == "text" for p in parts):
        return "".join(p["text"] for p in parts)
    return parts


def to_socratic_messages(messages: list[BaseMessage]) -> list[dict[str, Any]]:
    """LangChain messages -> socratic chat messages (system / user / assistant; text and
    images)."""
    out = []
    for m in messages:
        role = m.role if isinstance(m, ChatMessage) else m.type
        if role not in _ROLES:
            raise ValueError(
                f"SocraticChatModel cannot send a '{role}' message (no tool calling support)"
            )
        if isinstance(m, AIMessage) and m.tool_calls:
            raise ValueError("SocraticChatModel does not support tool calls")
        out.append({"role": _ROLES[role], "content": _content(m)})
    return out


class SocraticChatModel(BaseChatModel):
    """Any socratic LLM (openai, hf, replay ...) as a LangChain chat model.

    Give ``llm`` (a socratic LLM object) or ``spec`` (a ``models:`` entry such as
    ``{"backend": "hf", "model": "./flan-t5"}``). ``temperature``, ``max_tokens`` and ``stop``
    become request options. ``timeout`` and ``max_retries`` are passed to a backend built from
    ``spec`` when it has those options (openai: ``timeout`` per attempt, ``max_attempts`` =
    ``max_retries`` + 1); an ``llm`` object keeps its own. Text and images in (image blocks in
    OpenAI, v1 or v0 form; data URLs decoded, ``http(s)`` URLs passed to API backends), text
    out; no tool calling. Token usage is reported as ``usage_metadata``. ``stream`` yields token
    deltas where the backend streams (openai, hf, langchain), else the answer as one chunk
    (cache hits, replay). An ``api_key``
    argument is ignored (LangChain drops unknown arguments): keys come from the backend's own
    environment variable, so they never sit on this object.

    Example:
        >>> chat = SocraticChatModel(spec={"backend": "openai", "model": "gpt-4o-mini"},
        ...                          temperature=0, max_tokens=50)
        >>> chat.model_name
        'gpt-4o-mini'
        >>> chat.invoke("Describe a cat in five words.")  # doctest: +SKIP
    """

    model_config = ConfigDict(populate_by_name=True, arbitrary_types_allowed=True)

    llm: Any = Field(None, description="a socratic LLM object")
    spec: dict[str, Any] | None = Field(None, description="models: entry to build the LLM from")
    model_name: str = Field("", alias="model")
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: list[str] | None = None
    timeout: float | None = None
    max_retries: int | None = None
    streaming: bool = False
    _llm: LLM = PrivateAttr()

    @model_validator(mode="after")
    def _build(self) -> SocraticChatModel:
        if (self.llm is None) == (self.spec is None):
            raise ValueError("give exactly one of 'llm' (a socratic LLM) or 'spec' (a dict)")
        if self.llm is not None:
            if not isinstance(self.llm, LLM):
                raise TypeError(f"llm must be a socratic LLM, got {type(self.llm).__name__}")
            self._llm = self.llm
        else:
            spec = dict(self.spec or {})
            fields = _config_fields(spec.get("backend"))
            if self.timeout is not None and "timeout" in fields:
                spec.setdefault("timeout", self.timeout)
            if self.max_retries is not None and "max_attempts" in fields:
                spec.setdefault("max_attempts", self.max_retries + 1)
            self._llm = build_backend(spec)  # type: ignore[assignment]
        if not self.model_name:
            self.model_name = getattr(self._llm.config, "model", "") or self._llm.name
        return self

    @property
    def socratic_llm(self) -> LLM:
        return self._llm

    @property
    def _llm_type(self) -> str:
        return "socratic"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "backend": self._llm.backend,
                "temperature": self.temperature, "max_tokens": self.max_tokens}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = LangSmithParams(
            ls_provider="socratic",
            ls_model_name=kwargs.get("model", self.model_name),
            ls_model_type="chat",
        )
        if self.temperature is not None:
            params["ls_temperature"] = self.temperature
        if self.max_tokens is not None:
            params["ls_max_tokens"] = self.max_tokens
        if stop or self.stop:
            params["ls_stop"] = stop or self.stop
        return params

    def _request(self, messages: list[BaseMessage], stop: list[str] | None,
                 kwargs: dict[str, Any]) -> LLMRequest:
        options = {"temperature": self.temperature, "max_tokens": self.max_tokens,
                   "top_p": self.top_p, "seed": self.seed}
        for key in ("temperature", "max_tokens", "top_p", "seed"):
            if key in kwargs:
                options[key] = kwargs.pop(key)
        if kwargs:
            raise TypeError(f"SocraticChatModel got unsupported arguments: {sorted(kwargs)}")
        stops = stop if stop is not None else self.stop
        return LLMRequest(messages=to_socratic_messages(messages),
                          stop=stops or None,
                          **{k: v for k, v in options.items() if v is not None})

    def _fields(self, result: Any) -> dict[str, Any]:
        p, c = result.usage.prompt_tokens, result.usage.completion_tokens
        return {
            "content": result.texts[0],
            "usage_metadata": {"input_tokens": p, "output_tokens": c, "total_tokens": p + c},
            "response_metadata": {"model_name": self.model_name, "model_provider": "socratic"},
        }

    def _result(self, result: Any) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage(**self._fields(result)))])

    def _last_chunk(self, result: Any) -> ChatGenerationChunk:
        """The closing chunk: usage and metadata (its text was streamed before it)."""
        fields = {**self._fields(result), "content": ""}
        return ChatGenerationChunk(message=AIMessageChunk(**fields, chunk_position="last"))

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        request = self._request(messages, stop, kwargs)
        for c in _iterate_sync(self._llm.astream(request)):
            chunk = self._last_chunk(c.result) if c.result is not None else \
                ChatGenerationChunk(message=AIMessageChunk(content=c.text))
            if run_manager and c.result is None:
                run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            if c.result is not None or c.index == 0:
                yield chunk

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        request = self._request(messages, stop, kwargs)
        async for c in self._llm.astream(request):
            if c.result is not None:
                yield self._last_chunk(c.result)
            elif c.index == 0 and c.text:
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=c.text))
                if run_manager:
                    await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                yield chunk

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return self._result(await self._llm.agenerate(self._request(messages, stop, kwargs)))

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return self._result(_run_sync(self._llm.agenerate(self._request(messages, stop, kwargs))))


def _iterate_sync(agen: Any) -> Iterator[Any]:
    """Items of an async iterator, for sync code, as they come (its loop runs in a thread)."""
    import queue
    import threading

    items: queue.Queue[Any] = queue.Queue()
    end = object()

    async def pump() -> None:
        try:
            async for item in agen:
                items.put(item)
        except BaseException as exc:
            items.put(exc)
        finally:
            items.put(end)

    thread = threading.Thread(target=asyncio.run, args=(pump(),), daemon=True)
    thread.start()
    while (item := items.get()) is not end:
        if isinstance(item, BaseException):
            raise item
        yield item
    thread.join()


def _config_fields(backend: str | None) -> set[str]:
    from ..models import backend_class

    if not backend:
        return set()
    return set(backend_class(backend).Config.model_fields)


class GraphRunnable(Runnable[dict[str, Any], dict[str, Any]]):
    """A socratic Graph as a LangChain Runnable: ``{inputs} -> {outputs}``.

    ``batch`` runs the rows through ``Graph.run_many`` (so local models batch across rows).

    Example:
        >>> from socratic import Graph, node
        >>> @node
        ... def up(text: str) -> str:
        ...     return text.upper()
        >>> g = Graph("t"); g.add_input("x", str); g.add("up", up, text="inputs.x")
        >>> g.add_output("y", "up.output")
        >>> r = graph_as_runnable(g)
        >>> r.invoke({"x": "hi"}), r.batch([{"x": "a"}, {"x": "b"}])
        ({'y': 'HI'}, [{'y': 'A'}, {'y': 'B'}])
    """

    def __init__(self, graph: Any, concurrency: int = 8) -> None:
        self.graph = graph
        self.concurrency = concurrency

    @property
    def InputType(self) -> Any:
        return dict[str, Any]

    @property
    def OutputType(self) -> Any:
        return dict[str, Any]

    def get_name(self, suffix: str | None = None, *, name: str | None = None) -> str:
        base = name or f"Graph[{getattr(self.graph, 'name', 'graph')}]"
        return f"{base}{suffix}" if suffix else base

    def get_input_schema(self, config: RunnableConfig | None = None) -> Any:
        from pydantic import create_model

        fields = {n: (tp, ...) for n, tp in self.graph.input_types.items()}
        return create_model(self.get_name("Input"), __config__=ConfigDict(
            arbitrary_types_allowed=True), **fields)

    def get_output_schema(self, config: RunnableConfig | None = None) -> Any:
        from pydantic import create_model

        fields = {n: (tp, ...) for n, tp in self.graph.output_types.items()}
        return create_model(self.get_name("Output"), __config__=ConfigDict(
            arbitrary_types_allowed=True), **fields)

    def invoke(
        self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        return self._call_with_config(lambda x: self.graph.run(**x), input, config)

    async def ainvoke(
        self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        async def run(x: dict[str, Any]) -> dict[str, Any]:
            return await self.graph.arun(**x)

        return await self._acall_with_config(run, input, config)

    def batch(
        self,
        inputs: list[dict[str, Any]],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[Any]:
        if not inputs:
            return []
        rows = _run_sync_threaded(
            lambda: self.graph.run_many(list(inputs), concurrency=self.concurrency)
        )
        out: list[Any] = []
        for row in rows:
            if "error" in row:
                err = row["error"]
                exc = err if isinstance(err, BaseException) else RuntimeError(str(err))
                if not return_exceptions:
                    raise exc
                out.append(exc)
            else:
                out.append(row["outputs"])
        return out


def _run_sync_threaded(fn: Any) -> Any:
    """Call a function that uses asyncio.run, from a worker thread when a loop is running."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return fn()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(fn).result()


def graph_as_runnable(graph: Any, *, concurrency: int = 8) -> GraphRunnable:
    """Wrap a socratic Graph as a LangChain Runnable (invoke, ainvoke, batch, abatch ...)."""
    return GraphRunnable(graph, concurrency=concurrency)


__all__ = [
    "GraphRunnable",
    "SocraticChatModel",
    "graph_as_runnable",
    "to_socratic_messages",
]
