"""The ``hf`` backend: local transformers models, causal (GPT-2, Llama ...) or seq2seq (T5 ...).

``model`` is a local directory or a hub id (found in the local hub cache; nothing is fetched
when ``HF_HUB_OFFLINE=1``). The architecture decides the kind: encoder-decoder configs load as
seq2seq, everything else as causal LM. ``adapter: DIR`` puts a peft adapter (LoRA ...) on top.

Batching: concurrent calls (from :meth:`HFLLM.agenerate_batch`, or simply many ``agenerate``
calls at once, as a graph over a dataset makes) are grouped into real batches of up to
``batch_size`` requests that share their sampling options; causal models pad on the left. Torch
runs in a worker thread under ``torch.inference_mode``, never on the event loop.

Sampling: ``temperature`` 0 or unset is greedy decoding; ``n`` > 1 then gives n identical
copies of the single greedy answer (computed once), as greedy decoding has only one answer.
``temperature`` > 0 samples ``n`` sequences (``num_return_sequences``); ``seed`` makes it
repeatable. ``stop`` strings cut the answer at the first one found (generation still runs to
``max_tokens`` or the end-of-sequence token). ``max_tokens`` defaults to 128 new tokens.

Chat: ``messages`` requests use the tokenizer's chat template when it has one (else the messages
are flattened to plain text); ``prompt`` requests are sent as plain text. ``chat_template: true``
uses the template for prompts too, ``false`` never.

Example:
    >>> llm = HFLLM(model="google/flan-t5-small", max_tokens=20, batch_size=16)
    >>> llm.name
    'hf:google/flan-t5-small'
    >>> llm.generate("Translate to German: cat").text  # doctest: +SKIP
    'Katze'
"""

from __future__ import annotations

import asyncio
import threading
import warnings
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, model_validator

from ..errors import ModelLoadError
from .base import LLM, LLMConfig, LLMRequest, LLMResult, TokenUsage

if TYPE_CHECKING:
    from ..loaders import HFLanguageModel


class HFConfig(LLMConfig):
    """Options of the ``hf`` backend.

    Example:
        >>> HFConfig(model="./flan-t5-small", batch_size=32).device
        'auto'
    """

    adapter: str | None = Field(None, description="peft adapter directory (LoRA ...) to apply")
    revision: str | None = Field(None, description="hub revision (branch, tag or commit)")
    device: str = Field("auto", description="'auto' (cuda if available), 'cpu', 'cuda:0' ...")
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = Field(
        "auto", description="'auto': float32 on CPU, the checkpoint's dtype elsewhere"
    )
    batch_size: int = Field(8, ge=1, description="most requests generated together")
    default_max_tokens: int = Field(128, ge=1, description="max new tokens when unset")
    chat_template: bool | None = Field(
        None, description="null: as the adapter was trained (recorded by socratic train), else for"
        " messages if the tokenizer has one; true: always; false: never"
    )

    @model_validator(mode="after")
    def _model_given(self) -> HFConfig:
        if not self.model:
            raise ValueError("the hf backend needs a 'model' (hub id or local directory)")
        return self


@dataclass
class _Pending:
    request: LLMRequest
    future: asyncio.Future[LLMResult]


class HFLLM(LLM):
    """A local transformers text model (causal or seq2seq, optional peft adapter), batched.

    Example:
        >>> llm = HFLLM(model="./my-flan-t5", adapter="./lora-captions", device="cpu")
        >>> llm.to_spec()["adapter"]
        './lora-captions'

    In YAML: ``llm: {backend: hf, model: ./models/llama-tiny, temperature: 0, max_tokens: 40}``.
    """

    backend: ClassVar[str] = "hf"
    Config: ClassVar[type[HFConfig]] = HFConfig
    default_concurrency: ClassVar[int] = 256
    config: HFConfig

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        self._generate_lock = threading.Lock()
        self._queues: weakref.WeakKeyDictionary[Any, list[_Pending]] = weakref.WeakKeyDictionary()
        self._flushers: weakref.WeakKeyDictionary[Any, asyncio.Task[None]] = (
            weakref.WeakKeyDictionary()
        )

    def cache_identity(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "model": self.config.model,
            "revision": self.config.revision,
            "adapter": self.config.adapter,
            "chat_template": self.config.chat_template,
            "default_max_tokens": self.config.default_max_tokens,
        }

    # -- loading (socratic.loaders: one lock, one set of messages) ---------------------------
    def _load(self) -> HFLanguageModel:
        from ..loaders import load_hf_lm

        cfg = self.config
        loaded = load_hf_lm(cfg.model or "", revision=cfg.revision, dtype=cfg.dtype, device=cfg.device,
                            padding_side="auto", adapter=cfg.adapter)
        trained = loaded.prompt_format
        wanted = cfg.chat_template
        if trained is not None and wanted is not None and wanted != trained.chat_template:
            warnings.warn(
                f"hf model '{cfg.model}': adapter '{cfg.adapter}' was trained with chat_template:"
                f" {str(trained.chat_template).lower()}, but this model sets chat_template:"
                f" {str(wanted).lower()}; its answers may not match its training",
                stacklevel=2)
        return loaded

    # -- batching ---------------------------------------------------------------------------
    async def agenerate_batch(self, requests: list[LLMRequest]) -> list[LLMResult]:
        """Answer many requests with as few batched forward passes as their options allow."""
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
        await asyncio.sleep(0)  # let every caller of this tick join the queue
        while queue:
            key = _group_key(queue[0].request)
            batch = [p for p in queue if _group_key(p.request) == key]
            batch = batch[: self.config.batch_size]
            for p in batch:
                queue.remove(p)
            try:
                results = await asyncio.to_thread(
                    self._generate_batch, [p.request for p in batch]
                )
            except BaseException as exc:
                for p in batch:
                    if not p.future.done():
                        p.future.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
                continue
            for p, result in zip(batch, results, strict=True):
                if not p.future.done():
                    p.future.set_result(result)
            await asyncio.sleep(0)

    # -- generation (worker thread) ---------------------------------------------------------
    def _render(self, request: LLMRequest, tokenizer: Any, trained: Any = None) -> tuple[str, bool]:
        """The text to encode, and whether to add the tokenizer's special tokens to it. An
        adapter trained by ``socratic train`` is prompted as it was trained (``trained``)."""
        has_template = bool(getattr(tokenizer, "chat_template", None))
        use = self.config.chat_template
        if use is None:
            use = trained.chat_template if trained else has_template and request.messages is not None
        if use:
            if not has_template:
                raise ModelLoadError(
                    f"hf model '{self.config.model}': chat_template is true but its tokenizer "
                    "has no chat template"
                )
            text = tokenizer.apply_chat_template(
                request.as_messages(), tokenize=False, add_generation_prompt=True
            )
            return text, False
        return request.as_prompt(), trained.add_special_tokens if trained else True

    def _generate_batch(self, requests: list[LLMRequest]) -> list[LLMResult]:
        """One ``generate`` call for requests that share a group key (see :func:`_group_key`)."""
        loaded: HFLanguageModel = self.resource()  # loads (and imports torch) under the load lock
        import torch

        tok, model = loaded.tokenizer, loaded.model
        first = requests[0]
        rendered = [self._render(r, tok, loaded.prompt_format) for r in requests]
        enc = tok(
            [text for text, _ in rendered],
            return_tensors="pt",
            padding=True,
            add_special_tokens=rendered[0][1],
        ).to(loaded.device)
        sample = bool(first.temperature)
        n = first.n
        kwargs: dict[str, Any] = {
            "max_new_tokens": first.max_tokens or self.config.default_max_tokens,
            "do_sample": sample,
            "pad_token_id": tok.pad_token_id,
        }
        if sample:
            kwargs.update(temperature=first.temperature, num_return_sequences=n)
            if first.top_p is not None:
                kwargs["top_p"] = first.top_p
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        with self._generate_lock, torch.inference_mode():
            if sample and first.seed is not None:
                torch.manual_seed(first.seed)
            out = model.generate(**enc, **kwargs)
        per = n if sample else 1
        start = 0 if loaded.seq2seq else enc["input_ids"].shape[1]
        generated = out[:, start:]
        texts = tok.batch_decode(generated, skip_special_tokens=True)
        special_ids = set(tok.all_special_ids)
        results = []
        for i, request in enumerate(requests):
            rows = list(range(i * per, (i + 1) * per))
            answers = [_cut(texts[j], request.stop) for j in rows]
            if not sample:
                answers = answers * n
            # tokens actually generated (a greedy answer is generated once, however large n is)
            completion = sum(
                sum(1 for t in generated[j].tolist() if t not in special_ids) for j in rows
            )
            prompt = int(enc["attention_mask"][i].sum())
            results.append(
                LLMResult(
                    texts=answers,
                    usage=TokenUsage(prompt_tokens=prompt, completion_tokens=completion),
                    model=self.config.model,
                )
            )
        return results


def _group_key(request: LLMRequest) -> tuple[Any, ...]:
    """Requests with equal keys can share one generate() call (stop strings are cut after)."""
    sample = bool(request.temperature)
    return (
        request.messages is not None,
        sample,
        request.max_tokens,
        request.temperature if sample else None,
        request.top_p if sample else None,
        request.seed if sample else None,
        request.n if sample else 1,
    )


def _cut(text: str, stop: list[str] | None) -> str:
    cuts = [text.find(s) for s in stop or [] if s and s in text]
    return text[: min(cuts)] if cuts else text
