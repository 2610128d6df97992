"""Devices and dtypes by name, the same for every loader.

Example:
    >>> resolve_device("cpu"), str(torch_dtype("bf16")), torch_dtype("auto", "cuda")
    ('cpu', 'torch.bfloat16', 'auto')
"""

from __future__ import annotations

from typing import Any

from ..errors import ModelLoadError

_NAMES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def resolve_device(device: str | None, what: str = "model") -> str:
    """``device``; ``None`` or ``auto``: ``cuda`` when torch sees a GPU, else ``cpu``. A CUDA
    device on a machine without one is a :class:`~socratic.errors.ModelLoadError`."""
    import torch

    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelLoadError(f"cannot load {what}: device '{device}' but no CUDA on this machine")
    return device


def torch_dtype(name: str, device: str = "cpu") -> Any:
    """The torch dtype named ``float32`` / ``fp32``, ``bfloat16`` / ``bf16``, ``float16`` /
    ``fp16``; ``auto``: float32 on CPU, else the checkpoint's own (``"auto"``)."""
    import torch

    if name == "auto":
        return torch.float32 if device == "cpu" else "auto"
    return getattr(torch, _NAMES.get(name, name))
