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

Vision-language models (a checkpoint whose config has a vision tower: LLaVA, Qwen2-VL,
Idefics3 / SmolVLM, BLIP-2 ...) load through ``AutoModelForImageTextToText`` and
``AutoProcessor`` (:mod:`socratic.loaders.hf_vlm`). The processor's chat template places each
image part (the model's own image tokens); a model without a template (BLIP-2) takes its one
image first and the text as its prompt. Requests batch as text requests do; images are read
before a request joins a batch, so a bad image fails its own request only. Text-only models
refuse images, at validation when their config is local.

Structured answers: with ``constrained: auto`` (default) a request's ``json_schema`` is
enforced during decoding by xgrammar when it is installed (``pip install xgrammar``); without
it the node validates the answer and re-asks. Streaming (:meth:`LLM.astream`): transformers'
``AsyncTextIteratorStreamer``, one request at a time.

Example:
    >>> llm = HFLLM(model="google/flan-t5-small", max_tokens=20, batch_size=16)
    >>> llm.name
    'hf:google/flan-t5-small'
    >>> llm.generate("Translate to German: cat").text  # doctest: +SKIP
    'Katze'
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import threading
import warnings
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, model_validator

from ..errors import ModelLoadError
from .base import LLM, LLMChunk, LLMConfig, LLMRequest, LLMResult, TokenUsage

if TYPE_CHECKING:
    pass


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
    constrained: Literal["auto", "xgrammar", "off"] = Field(
        "auto", description="json_schema requests: enforce the schema while decoding (xgrammar;"
        " auto: when installed); off: validate and re-ask only"
    )
    max_image_pixels: int | None = Field(
        50_000_000, ge=1, description="images with more pixels are refused before decoding"
    )

    @model_validator(mode="after")
    def _model_given(self) -> HFConfig:
        if not self.model:
            raise ValueError("the hf backend needs a 'model' (hub id or local directory)")
        return self


@dataclass
class _Pending:
    request: LLMRequest
    future: asyncio.Future[LLMResult] | None = None
    images: list[Any] = field(default_factory=list)  # PIL images, read before batching


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

    def accepts_images(self) -> bool | None:
        from ..loaders.hf_vlm import is_vision_model

        return is_vision_model(self.config.model, self.config.revision)

    def uses_constraints(self) -> bool:
        """Whether json_schema requests are decoded under a grammar (xgrammar installed)."""
        mode = self.config.constrained
        if mode == "off":
            return False
        found = importlib.util.find_spec("xgrammar") is not None
        if mode == "xgrammar" and not found:
            raise ModelLoadError(f"hf model '{self.config.model}': constrained: xgrammar needs the"
                                 " xgrammar package (pip install xgrammar)")
        return found

    # -- loading (socratic.loaders: one lock, one set of messages) ---------------------------
    def _load(self) -> Any:
        from ..loaders import load_hf_lm, load_hf_vlm

        cfg = self.config
        if self.accepts_images():
            if cfg.adapter:
                raise ModelLoadError(f"hf model '{cfg.model}': adapters on vision-language models"
                                     " are not supported")
            return load_hf_vlm(cfg.model, revision=cfg.revision, dtype=cfg.dtype, device=cfg.device)
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

    def _open_images(self, request: LLMRequest) -> list[Any]:
        from .images import open_pil

        return [open_pil(im, self.config.max_image_pixels) for im in request.images]

    async def _agenerate(self, request: LLMRequest) -> LLMResult:
        loop = asyncio.get_running_loop()
        images = await asyncio.to_thread(self._open_images, request) if request.images else []
        queue = self._queues.setdefault(loop, [])
        future: asyncio.Future[LLMResult] = loop.create_future()
        queue.append(_Pending(request, future, images))
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
                results = await asyncio.to_thread(self._generate_batch, batch)
            except BaseException as exc:
                for p in batch:
                    if p.future is not None and not p.future.done():
                        p.future.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
                continue
            for p, result in zip(batch, results, strict=True):
                if p.future is not None and not p.future.done():
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

    def _encode_text(self, loaded: Any, requests: list[LLMRequest]) -> Any:
        tok = loaded.tokenizer
        rendered = [self._render(r, tok, loaded.prompt_format) for r in requests]
        return tok(
            [text for text, _ in rendered],
            return_tensors="pt",
            padding=True,
            add_special_tokens=rendered[0][1],
        )

    def _encode_vision(self, loaded: Any, batch: list[_Pending]) -> Any:
        """Processor inputs for a batch: the chat template places the image parts; without
        one (BLIP-2) the single image comes first and the text is the prompt."""
        proc = loaded.processor
        use = self.config.chat_template
        template = loaded.chat_template and use is not False
        texts, images = [], []
        for p in batch:
            request = p.request
            if template and (request.messages is not None or use):
                messages = [{"role": m["role"], "content": _processor_parts(m["content"])}
                            for m in request.as_messages()]
                texts.append(proc.apply_chat_template(messages, add_generation_prompt=True,
                                                      tokenize=False))
            else:
                if len(p.images) > 1:
                    raise ModelLoadError(
                        f"hf model '{self.config.model}' has no chat template: it takes one image per"
                        f" request, not {len(p.images)}")
                texts.append(request.as_prompt() if not request.images else _flat_text(request))
            images.append(list(p.images))
        kwargs: dict[str, Any] = {"text": texts, "return_tensors": "pt", "padding": True}
        if any(images):
            kwargs["images"] = images if template else [im[0] for im in images]
        return proc(**kwargs)

    def _logits_processors(self, loaded: Any, request: LLMRequest) -> list[Any]:
        if request.json_schema is None or not self.uses_constraints():
            return []
        import xgrammar as xgr

        compiled = self.__dict__.setdefault("_grammars", {})
        key = json.dumps(request.json_schema["schema"], sort_keys=True)
        if key not in compiled:
            if "_xgr_compiler" not in self.__dict__:
                vocab = loaded.model.get_output_embeddings().weight.shape[0]
                info = xgr.TokenizerInfo.from_huggingface(loaded.tokenizer, vocab_size=vocab)
                self._xgr_compiler = xgr.GrammarCompiler(info)
            compiled[key] = self._xgr_compiler.compile_json_schema(key, any_whitespace=False)
        return [xgr.contrib.hf.LogitsProcessor(compiled[key])]

    def _generate_batch(self, batch: list[_Pending], streamer: Any = None) -> list[LLMResult]:
        """One ``generate`` call for requests that share a group key (see :func:`_group_key`)."""
        loaded: Any = self.resource()  # loads (and imports torch) under the load lock
        import torch

        requests = [p.request for p in batch]
        tok, model = loaded.tokenizer, loaded.model
        first = requests[0]
        vision = hasattr(loaded, "processor")
        if not vision and any(r.images for r in requests):
            from ..errors import LLMError

            raise LLMError(f"model '{self.name}' cannot see images (a text-only model): use a"
                           " vision-language model")
        enc = (self._encode_vision(loaded, batch) if vision else self._encode_text(loaded, requests))
        enc = enc.to(loaded.device)
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
        processors = self._logits_processors(loaded, first)
        if processors:
            kwargs["logits_processor"] = processors
        if streamer is not None:
            kwargs["streamer"] = streamer
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

    async def _astream(self, request: LLMRequest) -> AsyncIterator[LLMChunk]:
        """Token deltas through ``AsyncTextIteratorStreamer`` (one request; sampled n > 1 is
        answered whole, one chunk per sample)."""
        if request.n > 1 and request.temperature:
            result = await self._agenerate(request)
            for i, text in enumerate(result.texts):
                yield LLMChunk(text=text, index=i)
            yield LLMChunk(result=result)
            return
        from transformers import AsyncTextIteratorStreamer

        images = await asyncio.to_thread(self._open_images, request) if request.images else []
        loaded: Any = await asyncio.to_thread(self.resource)
        streamer = AsyncTextIteratorStreamer(loaded.tokenizer, skip_prompt=True,
                                             skip_special_tokens=True)
        job = asyncio.ensure_future(asyncio.to_thread(
            self._generate_batch, [_Pending(request, None, images)], streamer))
        stops = [s for s in request.stop or [] if s]
        hold = max((len(s) for s in stops), default=1) - 1
        text, sent = "", 0
        try:
            async for piece in streamer:
                text += piece
                cut = _cut(text, stops)
                safe = len(cut) if len(cut) < len(text) else max(sent, len(text) - hold)
                if safe > sent:
                    yield LLMChunk(text=text[sent:safe])
                    sent = safe
        except BaseException:
            if not job.done():
                await asyncio.wait([job])
            raise
        (result,) = await job
        if len(result.text) > sent:
            yield LLMChunk(text=result.text[sent:])
        yield LLMChunk(result=result)


def _group_key(request: LLMRequest) -> tuple[Any, ...]:
    """Requests with equal keys can share one generate() call (stop strings are cut after)."""
    sample = bool(request.temperature)
    schema = request.json_schema
    return (
        request.messages is not None,
        bool(request.images),
        json.dumps(schema, sort_keys=True) if schema is not None else None,
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


def _processor_parts(content: Any) -> list[dict[str, Any]]:
    """Socratic content -> a processor chat template's parts (``{"type": "image"}`` marks)."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [{"type": "text", "text": p["text"]} if p["type"] == "text" else {"type": "image"}
            for p in content]


def _flat_text(request: LLMRequest) -> str:
    """The text of a request with images, for a model without a chat template."""
    return "\n\n".join(m.text for m in request.messages or [] if m.text)
