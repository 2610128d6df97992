"""Hugging Face image-to-text captioners: BLIP, BLIP-2, GIT (``AutoProcessor`` +
``AutoModelForImageTextToText``).

Decoding (``strategy``):
- ``greedy``: one caption per image (``num_captions`` must be 1);
- ``beam``: beam search with ``num_beams``; the best ``num_captions`` (<= ``num_beams``) beams;
- ``sample``: ``num_captions`` samples with ``temperature`` and nucleus ``top_p``; with ``seed``
  the samples are reproducible (for the same batch size) and the global RNG is left untouched.

A ``prompt`` conditions the caption (BLIP: "a picture of"); models that continue a prompt return
it as part of the caption, as transformers does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, ValidationError

from ..errors import InputError
from ..models import BackendConfig
from .base import Captioner, CaptionOptions
from .clip_base import Precision, to_pil

if TYPE_CHECKING:
    from ..loaders import HFImageToText


class HFCaptionerConfig(CaptionOptions):
    """Config of the ``hf_captioner`` backend: the model, where it runs, and default decoding
    options (any :class:`~socratic.vision.base.CaptionOptions` field; calls may override)."""

    model: str = Field(description="hub id (Salesforce/blip-image-captioning-base) or directory")
    device: str | None = Field(None, description="'cpu', 'cuda' ...; default: cuda if any")
    dtype: Precision = Field("fp32", description="fp16 / bf16 are meant for GPUs")
    batch_size: int = Field(16, ge=1, description="images per generate() call")


_OPTION_FIELDS = tuple(CaptionOptions.model_fields)


def caption_options(defaults: CaptionOptions, overrides: dict[str, Any]) -> CaptionOptions:
    """``defaults`` (a backend config) with ``overrides`` applied and checked (InputError).

    Example:
        >>> caption_options(CaptionOptions(num_beams=3), {"strategy": "beam"}).num_beams
        3
    """
    try:
        return CaptionOptions(**{**{k: getattr(defaults, k) for k in _OPTION_FIELDS}, **overrides})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InputError(f"bad caption options: {problems}") from None


def generate_kwargs(opts: CaptionOptions) -> dict[str, Any]:
    """transformers ``generate`` arguments for decoding options (checks their consistency).

    Example:
        >>> generate_kwargs(CaptionOptions(strategy="beam", num_beams=3, num_captions=2))
        {'max_new_tokens': 30, 'num_beams': 3, 'do_sample': False, 'num_return_sequences': 2}
    """
    kw: dict[str, Any] = {"max_new_tokens": opts.max_new_tokens}
    if opts.strategy == "greedy":
        if opts.num_captions != 1:
            raise InputError(
                f"greedy decoding gives one caption per image, not {opts.num_captions}; "
                "use strategy 'beam' or 'sample' for several"
            )
        kw.update(num_beams=1, do_sample=False)
    elif opts.strategy == "beam":
        if opts.num_captions > opts.num_beams:
            raise InputError(
                f"num_captions ({opts.num_captions}) must be <= num_beams ({opts.num_beams})"
            )
        kw.update(num_beams=opts.num_beams, do_sample=False, num_return_sequences=opts.num_captions)
    else:
        kw.update(
            num_beams=1,
            do_sample=True,
            temperature=opts.temperature,
            top_p=opts.top_p,
            num_return_sequences=opts.num_captions,
        )
    return kw


class HFCaptioner(Captioner):
    """Captions images with a Hugging Face image-to-text model.

    Example:
        >>> cap = HFCaptioner(model="Salesforce/blip-image-captioning-base", num_beams=5)
        >>> cap.kind, cap.loaded
        ('captioner', False)

        ``cap.caption(["photo.jpg"], strategy="beam", num_captions=3)`` gives three captions per
        image; ``cap.caption(images, strategy="sample", num_captions=5, seed=0)`` five samples;
        ``cap.caption(images, prompt="a picture of")`` conditional captions.
    """

    backend: ClassVar[str] = "hf_captioner"
    Config: ClassVar[type[BackendConfig]] = HFCaptionerConfig

    def _load(self) -> HFImageToText:
        from ..loaders import load_hf_image_to_text

        return load_hf_image_to_text(self.config.model, device=self.config.device, dtype=self.config.dtype)

    def options(self, **overrides: Any) -> CaptionOptions:
        """The backend's default decoding options with ``overrides`` applied and checked."""
        return caption_options(self.config, overrides)

    def caption(self, images: list[Any], **options: Any) -> list[list[str]]:
        """``num_captions`` captions per image, ``batch_size`` images per generate call."""
        opts = self.options(**options)
        kw = generate_kwargs(opts)
        items = list(images)
        r: HFImageToText = self.resource()  # loads (and imports torch) under the load lock
        import torch

        out: list[list[str]] = []
        n = opts.num_captions
        with torch.random.fork_rng(devices=_cuda_devices(r.device)):
            if opts.seed is not None:
                torch.manual_seed(opts.seed)
            for start in range(0, len(items), self.config.batch_size):
                pils = [to_pil(x) for x in items[start : start + self.config.batch_size]]
                texts = self._generate(r, pils, opts.prompt, kw)
                out.extend(texts[i * n : (i + 1) * n] for i in range(len(pils)))
        return out

    def _generate(
        self, r: HFImageToText, pils: list[Any], prompt: str | None, kw: dict[str, Any]
    ) -> list[str]:
        import torch

        tok = r.tokenizer
        if prompt is None:
            inputs = dict(r.processor(images=pils, return_tensors="pt"))
        elif getattr(r.model.config, "model_type", "") == "git":
            # GIT continues [CLS] + prompt (no [SEP]), as in transformers' GIT examples
            inputs = dict(r.processor(images=pils, return_tensors="pt"))
            ids = [tok.cls_token_id, *tok(prompt, add_special_tokens=False)["input_ids"]]
            inputs["input_ids"] = torch.tensor([ids] * len(pils))
        else:
            inputs = dict(
                r.processor(images=pils, text=[prompt] * len(pils), return_tensors="pt",
                            padding=True)
            )
        batch = {}
        for key, value in inputs.items():
            if key == "token_type_ids" or not hasattr(value, "to"):
                continue
            value = value.to(r.device)
            batch[key] = value.to(r.dtype) if value.is_floating_point() else value
        with torch.inference_mode():
            ids = r.model.generate(**batch, **kw)
        return [t.strip() for t in tok.batch_decode(ids, skip_special_tokens=True)]


def _cuda_devices(device: str) -> list[int]:
    if not device.startswith("cuda"):
        return []
    _, _, index = device.partition(":")
    return [int(index) if index else 0]
