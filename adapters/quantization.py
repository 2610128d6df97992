"""QLoRA: the ``quantization:`` section, a frozen LM loaded in 4 (or 8) bits by bitsandbytes,
prepared for k-bit training by peft, with LoRA (``task: lora``) or a bridge on top.

``quantization: {bits: 4, quant_type: nf4, compute_dtype: bf16}`` becomes a transformers
``BitsAndBytesConfig``; with ``distributed.strategy: fsdp`` the packed 4-bit weights are
stored in the compute dtype (``bnb_4bit_quant_storage``), as the bitsandbytes FSDP-QLoRA guide
describes, so that FSDP shards them like the other weights. bitsandbytes needs a CUDA device:
on a CPU-only machine (or with ``train.cpu: true``) a config with ``quantization:`` is refused
when it is validated, before anything loads.

Example:
    >>> q = QuantizationConfig(bits=4, quant_type="nf4", compute_dtype="bf16")
    >>> q.storage_dtype_for("fsdp"), q.storage_dtype_for("ddp")
    ('bf16', 'uint8')
"""

from __future__ import annotations

import importlib.util
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from socratic.errors import MissingExtraError, UsageError

__all__ = ["QuantizationConfig", "bnb_config", "check_quantization", "prepare_for_kbit"]

_DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}


class QuantizationConfig(BaseModel):
    """How the frozen LM is quantized (see the module docstring).

    Example:
        >>> QuantizationConfig().bits
        4
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    bits: Literal[4, 8] = 4
    quant_type: Literal["nf4", "fp4"] = "nf4"
    compute_dtype: Literal["bf16", "fp16", "fp32"] = "bf16"
    double_quant: bool = True
    storage_dtype: Literal["auto", "uint8", "bf16", "fp16", "fp32"] = "auto"

    def storage_dtype_for(self, strategy: str) -> str:
        """``auto``: the compute dtype under FSDP (bitsandbytes' FSDP-QLoRA rule), else uint8."""
        if self.storage_dtype != "auto":
            return self.storage_dtype
        return self.compute_dtype if strategy == "fsdp" else "uint8"


def check_quantization(cfg: QuantizationConfig, *, cpu: bool, strategy: str = "ddp",
                       cuda_available: bool | None = None) -> None:
    """Refuse a quantized run that cannot work here, with one clear message: on the CPU, without
    bitsandbytes, or under DeepSpeed ZeRO-3. ``cuda_available`` is probed only when torch is
    already imported (validation imports no torch)."""
    if cpu:
        raise UsageError("quantization: bitsandbytes 4/8-bit training needs a CUDA GPU, and this "
                         "config sets train.cpu: true (remove the quantization section to train on CPU)")
    if cuda_available is None:
        import sys

        torch = sys.modules.get("torch")
        cuda_available = bool(torch.cuda.is_available()) if torch is not None else None
    if cuda_available is False:
        raise UsageError("quantization: bitsandbytes 4/8-bit training needs a CUDA GPU and none is "
                         "visible here (remove the quantization section to train on CPU)")
    if importlib.util.find_spec("bitsandbytes") is None:
        raise MissingExtraError("bitsandbytes", "qlora", "quantization:")
    if strategy == "deepspeed":
        raise UsageError("quantization: with distributed.strategy deepspeed is not supported here; "
                         "use ddp or fsdp (FSDP-QLoRA)")


def bnb_config(cfg: QuantizationConfig, strategy: str = "ddp") -> Any:
    """The transformers ``BitsAndBytesConfig`` for ``cfg``."""
    import torch
    from transformers import BitsAndBytesConfig

    if cfg.bits == 8:
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=cfg.quant_type,
        bnb_4bit_compute_dtype=getattr(torch, _DTYPES[cfg.compute_dtype]),
        bnb_4bit_use_double_quant=cfg.double_quant,
        bnb_4bit_quant_storage=getattr(torch, {"uint8": "uint8", **_DTYPES}[cfg.storage_dtype_for(strategy)]),
    )


def load_kwargs(cfg: QuantizationConfig, strategy: str = "ddp") -> dict[str, Any]:
    """``from_pretrained`` keyword arguments of a quantized load: the config, the dtype of the
    weights that stay unquantized, and the device (this process's GPU; FSDP places it itself)."""
    import os

    kw: dict[str, Any] = {"quantization_config": bnb_config(cfg, strategy)}
    if strategy != "fsdp":
        kw["device_map"] = {"": int(os.environ.get("LOCAL_RANK", "0"))}
    return kw


def prepare_for_kbit(model: Any, gradient_checkpointing: bool = False) -> Any:
    """peft's ``prepare_model_for_kbit_training`` (norms in fp32, inputs require grad)."""
    from peft import prepare_model_for_kbit_training

    return prepare_model_for_kbit_training(
        model, use_gradient_checkpointing=gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False},
    )
