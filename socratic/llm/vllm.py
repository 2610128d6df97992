"""The ``vllm`` backend: local generation on vLLM's offline engine (``vllm.LLM``), on a GPU.

``model`` is a local folder or a hub id (in the local hub cache when offline). Requests made at
the same time (the rows of a batch, ``for_each`` items) are handed to vLLM together, which
batches them continuously on the GPU. ``messages`` requests go through ``LLM.chat`` with the
model's chat template (``chat_template: true`` uses it for plain prompts too, ``false`` never;
by default an adapter trained by ``socratic train`` is prompted as it was trained); sampling
honours ``n``, ``temperature`` (0 or unset: greedy, and ``n`` copies of the one greedy answer),
``top_p``, ``max_tokens`` (default ``default_max_tokens``), ``stop`` and ``seed``. ``adapter``: a
peft LoRA folder (what ``socratic train`` writes) served with ``LoRARequest``. Images for
vision-language models: message content given as parts (``{"type": "text"}``, ``{"type":
"image", "image": <path, PIL image or socratic Image>}`` or OpenAI's ``image_url``) are sent as
vLLM's multimodal input.

vLLM needs a CUDA GPU (and the ``vllm`` extra): without one the model fails when it loads,
with a message saying so; ``socratic validate`` checks the graph without loading anything. Under
``--engine ray`` a vllm model's stage asks for one GPU per actor by default.

Example (YAML)::

    models:
      llm: {backend: vllm, model: ./models/llama-3.2-1b-instruct, adapter: ./runs/lora/final,
            temperature: 0, max_tokens: 64, resources: {num_gpus: 1, replicas: 2}}
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from ..errors import ModelLoadError
from .base import LLM, LLMConfig, LLMRequest, LLMResult, TokenUsage

_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)


class VLLMConfig(LLMConfig):
    """Options of the ``vllm`` backend.

    Example:
        >>> VLLMConfig(model="./llama", adapter="./lora").gpu_memory_utilization
        0.9
    """

    adapter: str | None = Field(None, description="peft LoRA adapter folder (socratic train writes one)")
    max_lora_rank: int | None = Field(None, ge=1, description="default: the adapter's rank r")
    dtype: Literal["auto", "float16", "bfloat16", "float32"] = Field("auto", description="weights dtype")
    max_model_len: int | None = Field(None, ge=1, description="context length (default: the model's)")
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1, description="share of GPU memory vLLM may use")
    tensor_parallel_size: int = Field(1, ge=1, description="GPUs one copy of the model spans")
    max_images: int | None = Field(None, ge=0, description="images per prompt (vision-language models)")
    chat_template: bool | None = Field(
        None, description="null: as the adapter was trained, else for messages; true: always; false: never")
    default_max_tokens: int = Field(128, ge=1, description="max new tokens when unset")
    batch_size: int = Field(256, ge=1, description="most requests handed to vLLM at once")
    engine_kwargs: dict[str, Any] = Field(default_factory=dict, description="more vllm.LLM arguments")

    @model_validator(mode="after")
    def _model_given(self) -> VLLMConfig:
        if not self.model:
            raise ValueError("the vllm backend needs a 'model' (hub id or local directory)")
        return self


@dataclass
class _Engine:
    llm: Any
    sampling: Any
    lora: Any
    trained_chat: bool | None


@dataclass
class _Pending:
    request: LLMRequest
    future: asyncio.Future[LLMResult]


class VLLMLLM(LLM):
    """A model on vLLM's offline engine (see the module docstring).

    Example:
        >>> llm = VLLMLLM(model="./llama", max_tokens=32)
        >>> llm.name, llm.loaded
        ('vllm:./llama', False)
    """

    backend: ClassVar[str] = "vllm"
    Config: ClassVar[type[VLLMConfig]] = VLLMConfig
    default_concurrency: ClassVar[int] = 4096
    #: the Ray engine's default resources for a stage of this model
    default_resources: ClassVar[dict[str, Any]] = {"num_gpus": 1.0, "num_cpus": 1.0}
    config: VLLMConfig

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        self._lock = threading.Lock()
        self._queues: weakref.WeakKeyDictionary[Any, list[_Pending]] = weakref.WeakKeyDictionary()
        self._flushers: weakref.WeakKeyDictionary[Any, asyncio.Task[None]] = weakref.WeakKeyDictionary()

    def cache_identity(self) -> dict[str, Any]:
        cfg = self.config
        return {"backend": self.backend, "model": cfg.model, "adapter": cfg.adapter,
                "chat_template": cfg.chat_template, "default_max_tokens": cfg.default_max_tokens}

    # -- loading ----------------------------------------------------------------------------
    def _load(self) -> _Engine:
        require_gpu(f"vllm model '{self.config.model}'")
        from ..extras import require
        from ..loaders.hf_lm import PromptFormat
        from ..loaders.lock import load_lock

        vllm = require("vllm", "vllm", "the vllm backend")
        cfg = self.config
        kwargs: dict[str, Any] = {"model": cfg.model, "dtype": cfg.dtype, "seed": cfg.seed or 0,
                                  "gpu_memory_utilization": cfg.gpu_memory_utilization,
                                  "tensor_parallel_size": cfg.tensor_parallel_size}
        if cfg.max_model_len:
            kwargs["max_model_len"] = cfg.max_model_len
        if cfg.max_images is not None:
            kwargs["limit_mm_per_prompt"] = {"image": cfg.max_images}
        lora = None
        if cfg.adapter:
            folder = Path(cfg.adapter).expanduser()
            if not (folder / "adapter_config.json").is_file():
                raise ModelLoadError(f"vllm model '{cfg.model}': adapter '{cfg.adapter}' is not a peft"
                                     " adapter folder (no adapter_config.json)")
            adapter_config = json.loads((folder / "adapter_config.json").read_text())
            rank = cfg.max_lora_rank or int(adapter_config.get("r", 16))
            rank = next((r for r in _LORA_RANKS if r >= rank), rank)  # the ranks vLLM accepts
            kwargs.update(enable_lora=True, max_lora_rank=rank)
            from vllm.lora.request import LoRARequest

            lora = LoRARequest("socratic-adapter", 1, str(folder))
        kwargs.update(cfg.engine_kwargs)
        try:
            with load_lock():
                llm = vllm.LLM(**kwargs)
        except Exception as exc:
            raise ModelLoadError(f"vllm could not load '{cfg.model}': {type(exc).__name__}: {exc}") from None
        trained = PromptFormat.read(cfg.adapter)
        return _Engine(llm, vllm.SamplingParams, lora, trained.chat_template if trained else None)

    # -- batching ---------------------------------------------------------------------------
    async def agenerate_batch(self, requests: list[LLMRequest]) -> list[LLMResult]:
        """Answer many requests; they reach vLLM together."""
        return list(await asyncio.gather(*(self.agenerate(r) for r in requests)))

    async def _agenerate(self, request: LLMRequest) -> LLMResult:
        loop = asyncio.get_running_loop()
        queue = self._queues.setdefault(loop, [])
        future: asyncio.Future[LLMResult] = loop.create_future()
        queue.append(_Pending(request, future))
        flusher = self._flushers.get(loop)
        if flusher is None or flusher.done():
            self._flushers[loop] = loop.create_task(self._flush(queue))
        return await future

    async def _flush(self, queue: list[_Pending]) -> None:
        await asyncio.sleep(0)  # every caller of this tick joins
        while queue:
            batch = queue[: self.config.batch_size]
            del queue[: len(batch)]
            try:
                results = await asyncio.to_thread(self.generate_many, [p.request for p in batch])
            except Exception as exc:
                for p in batch:
                    if not p.future.done():
                        p.future.set_exception(exc)
                continue
            for p, result in zip(batch, results, strict=True):
                if not p.future.done():
                    p.future.set_result(result)

    # -- generation (worker thread) ---------------------------------------------------------
    def generate_many(self, requests: list[LLMRequest]) -> list[LLMResult]:
        """One vLLM call for the chat requests and one for the plain prompts."""
        engine: _Engine = self.resource()
        results: list[LLMResult | None] = [None] * len(requests)
        chat = [i for i, r in enumerate(requests) if self._use_chat(r, engine)]
        plain = [i for i in range(len(requests)) if i not in set(chat)]
        with self._lock:
            if chat:
                outs = engine.llm.chat([vllm_messages(requests[i]) for i in chat],
                                       sampling_params=[self._params(requests[i], engine) for i in chat],
                                       use_tqdm=False, lora_request=engine.lora)
                for i, out in zip(chat, outs, strict=True):
                    results[i] = self._result(requests[i], out)
            if plain:
                outs = engine.llm.generate([requests[i].as_prompt() for i in plain],
                                           sampling_params=[self._params(requests[i], engine) for i in plain],
                                           use_tqdm=False, lora_request=engine.lora)
                for i, out in zip(plain, outs, strict=True):
                    results[i] = self._result(requests[i], out)
        return [r for r in results if r is not None]

    def _use_chat(self, request: LLMRequest, engine: _Engine) -> bool:
        use = self.config.chat_template
        if use is None:
            use = engine.trained_chat if engine.trained_chat is not None else request.messages is not None
        return bool(use)

    def _params(self, request: LLMRequest, engine: _Engine) -> Any:
        greedy = not request.temperature
        return engine.sampling(
            n=1 if greedy else request.n, temperature=0.0 if greedy else request.temperature,
            top_p=request.top_p or 1.0, max_tokens=request.max_tokens or self.config.default_max_tokens,
            stop=request.stop or None, seed=request.seed)

    def _result(self, request: LLMRequest, out: Any) -> LLMResult:
        texts = [o.text for o in out.outputs]
        if not request.temperature and request.n > 1:
            texts = texts[:1] * request.n  # greedy decoding has one answer
        usage = TokenUsage(prompt_tokens=len(out.prompt_token_ids or []),
                           completion_tokens=sum(len(o.token_ids) for o in out.outputs))
        return LLMResult(texts=texts, usage=usage, model=self.config.model)


def require_gpu(what: str) -> None:
    """Raise :class:`ModelLoadError` unless torch sees a CUDA GPU (vLLM runs on GPUs only)."""
    try:
        import torch
    except ImportError:
        raise ModelLoadError(f"{what} needs a CUDA GPU and torch (pip install 'socratic-vl[vllm]')") from None
    if not torch.cuda.is_available():
        raise ModelLoadError(
            f"{what} needs a CUDA GPU, and none is visible here (torch.cuda.is_available() is False);"
            " run it on a GPU machine (under --engine ray its stage asks for num_gpus: 1), or use"
            " backend: hf on CPU")


def vllm_messages(request: LLMRequest) -> list[dict[str, Any]]:
    """OpenAI-style chat messages for ``LLM.chat``: text content as it is; image parts (a path,
    PIL image or socratic Image, as ``llm.generate``'s ``images`` puts them into the user turn)
    as ``image_url`` data URLs.

    Example:
        >>> vllm_messages(LLMRequest(prompt="hi"))
        [{'role': 'user', 'content': 'hi'}]
    """
    messages = []
    for m in request.as_messages():
        content = m["content"]
        messages.append({"role": m["role"], "content": content if isinstance(content, str)
                         else [_part(p) for p in content]})
    return messages


def _part(part: Any) -> dict[str, Any]:
    if not isinstance(part, dict):
        part = {"type": "text", "text": part} if isinstance(part, str) else {"type": "image", "image": part}
    if part.get("type") != "image":
        return part
    image = part["image"]
    pil = image.pil() if hasattr(image, "pil") else image
    if isinstance(pil, (str, Path)):
        from PIL import Image

        with Image.open(pil) as opened:
            pil = opened.convert("RGB")
    buffer = io.BytesIO()
    pil.convert("RGB").save(buffer, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    return {"type": "image_url", "image_url": {"url": url}}
