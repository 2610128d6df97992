"""The ``bridge_llm`` backend: a trained adapters bridge (ClipCap, Q-Former, Frozen ...) as an
image + prompt LLM.

A bridge directory written by ``socratic train`` (``OUTPUT_DIR/bridge``) rebuilds its vision
encoder, bridge and LM (:func:`socratic.adapters.io.load_bridge`). A request with one image is
answered as the bridge was trained: the image's prefix embeddings, then the request's text as
the prompt (the user messages' text; empty: the prompt the bridge was trained with), then the
answer. Several images interleaved with text (few-shot, Frozen-style) go through
``generate_interleaved`` in message order. Requests with one image and the same prompt and
options are batched (``batch_size``).

Sampling: temperature 0 or unset is greedy; ``temperature`` > 0 samples ``n`` answers (``top_p``,
``seed``); ``max_tokens`` (default 30) caps new tokens; ``stop`` cuts the answer. Text only
requests are answered from the prompt alone.

Example:
    >>> llm = BridgeLLM(path="runs/clipcap/bridge")
    >>> llm.name, llm.accepts_images()
    ('bridge_llm:runs/clipcap/bridge', True)

In YAML::

    models:
      vlm: {backend: bridge_llm, path: runs/clipcap/bridge, max_tokens: 20}
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, ClassVar

from pydantic import Field

from .base import LLM, LLMConfig, LLMRequest, LLMResult, TokenUsage
from .hf import _cut

__all__ = ["BridgeLLM"]


class BridgeLLMConfig(LLMConfig):
    """Options of the ``bridge_llm`` backend.

    Example:
        >>> BridgeLLMConfig(path="runs/x/bridge").batch_size
        16
    """

    path: str = Field(..., description="bridge directory written by socratic train")
    device: str = Field("cpu", description="'cpu', 'cuda', 'cuda:0' ...")
    batch_size: int = Field(16, ge=1, description="most single-image requests generated together")
    lm_path: str | None = Field(None, description="where the bridge's LM is now (if it moved)")
    default_max_tokens: int = Field(30, ge=1, description="max new tokens when unset")
    max_image_pixels: int | None = Field(50_000_000, ge=1, description="larger images are refused")
    cache: bool = Field(True, description="use the response cache")


class BridgeLLM(LLM):
    """A trained vision-to-LLM bridge answering image + prompt requests.

    Example:
        >>> BridgeLLM(path="runs/x/bridge", device="cpu").to_spec()
        {'backend': 'bridge_llm', 'path': 'runs/x/bridge'}
    """

    backend: ClassVar[str] = "bridge_llm"
    Config: ClassVar[type[BridgeLLMConfig]] = BridgeLLMConfig
    default_concurrency: ClassVar[int] = 256
    config: BridgeLLMConfig

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return f"{self.backend}:{self.config.path}"

    def cache_identity(self) -> dict[str, Any]:
        from ..loaders.hub import stat_identity

        try:
            identity = stat_identity(self.config.path, (".json", ".safetensors"))
        except OSError:
            identity = self.config.path
        return {"backend": self.backend, "bridge": identity, "lm_path": self.config.lm_path,
                "default_max_tokens": self.config.default_max_tokens}

    def accepts_images(self) -> bool | None:
        return True

    def _load(self) -> Any:
        from ..loaders import load_lock

        with load_lock:  # imports torch and builds the vision encoder, bridge and LM
            from socratic.adapters.io import load_bridge

            return load_bridge(self.config.path, self.config.device, lm_path=self.config.lm_path)

    # -- answering ----------------------------------------------------------------------------
    async def agenerate_batch(self, requests: list[LLMRequest]) -> list[LLMResult]:
        """Answer many requests (cache first), batching single-image ones that share prompt
        and options."""
        return list(await asyncio.gather(*(self.agenerate(r) for r in requests)))

    async def _agenerate(self, request: LLMRequest) -> LLMResult:
        """Join this tick's queue; one worker-thread pass answers everything queued."""
        loop = asyncio.get_running_loop()
        queue = self.__dict__.setdefault("_queue", [])
        future: asyncio.Future[LLMResult] = loop.create_future()
        queue.append((request, future))
        if len(queue) == 1:
            self._flusher = loop.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # let every caller of this tick join
        batch, self._queue = self._queue, []
        try:
            answers = await asyncio.to_thread(self._batched, [r for r, _ in batch])
        except BaseException as exc:  # the model did not load: every request fails alike
            answers = [exc] * len(batch)
        for (_, future), answer in zip(batch, answers, strict=True):
            if future.done():
                continue
            if isinstance(answer, BaseException):
                future.set_exception(answer)
            else:
                future.set_result(answer)

    def _batched(self, requests: list[LLMRequest]) -> list[LLMResult | BaseException]:
        from .images import open_pil

        vlm = self.resource()
        results: list[LLMResult | BaseException | None] = [None] * len(requests)
        groups: dict[Any, list[tuple[int, Any]]] = {}
        for i, r in enumerate(requests):
            try:
                if len(r.images) == 1 and _single_image_first(r):
                    pil = open_pil(r.images[0], self.config.max_image_pixels)
                    groups.setdefault((_prompt(r), *_options_key(r)), []).append((i, pil))
                else:
                    results[i] = self._interleaved(vlm, r)
            except Exception as exc:  # a bad image fails its own request
                results[i] = exc
        for key, members in groups.items():
            for s in range(0, len(members), self.config.batch_size):
                chunk = members[s : s + self.config.batch_size]
                first = requests[chunk[0][0]]
                with self._lock:
                    outs = vlm.generate([pil for _, pil in chunk], prompt=key[0] or None,
                                        **self._options(first))
                for (i, _), texts in zip(chunk, outs, strict=True):
                    results[i] = self._result(requests[i], texts)
        return [r if r is not None else RuntimeError("no answer") for r in results]

    def _interleaved(self, vlm: Any, request: LLMRequest) -> LLMResult:
        from .images import open_pil

        segments: list[Any] = []
        for m in request.messages or []:
            if m.role == "system":
                continue
            parts = [{"type": "text", "text": m.content}] if isinstance(m.content, str) else m.content
            for p in parts:
                if p["type"] == "text":  # right after an image, as in training; else spaced
                    if p["text"].strip():
                        after_text = bool(segments) and isinstance(segments[-1], str)
                        segments.append((" " if after_text else "") + p["text"].strip())
                else:
                    segments.append(open_pil(p["image"], self.config.max_image_pixels))
        if request.prompt is not None:
            segments.append(request.prompt)
        with self._lock:
            texts = vlm.generate_interleaved(segments or [" "], **self._options(request))
        return self._result(request, texts)

    def _options(self, request: LLMRequest) -> dict[str, Any]:
        opts: dict[str, Any] = {"max_new_tokens": request.max_tokens or self.config.default_max_tokens,
                                "num_captions": request.n, "seed": request.seed}
        if request.temperature:
            opts.update(strategy="sample", temperature=request.temperature, top_p=request.top_p or 1.0)
        else:
            opts["strategy"] = "greedy"
        return opts

    def _result(self, request: LLMRequest, texts: list[str]) -> LLMResult:
        answers = [_cut(t, request.stop) for t in texts][: request.n]
        completion = sum(len(t.split()) for t in answers)
        return LLMResult(texts=answers, usage=TokenUsage(completion_tokens=completion),
                         model=self.config.path)


def _single_image_first(request: LLMRequest) -> bool:
    """One image, before all the text of the request (the trained layout: prefix, prompt)."""
    seen_text = False
    for m in request.messages or []:
        if isinstance(m.content, str):
            seen_text = seen_text or (bool(m.content.strip()) and m.role != "system")
            continue
        for p in m.content:
            if p["type"] == "image":
                return not seen_text
            seen_text = seen_text or bool(p["text"].strip())
    return False


def _prompt(request: LLMRequest) -> str:
    return "\n".join(m.text for m in request.messages or [] if m.role == "user" and m.text.strip())


def _options_key(request: LLMRequest) -> tuple[Any, ...]:
    return (request.n, request.temperature or 0.0, request.top_p, request.max_tokens, request.seed)
