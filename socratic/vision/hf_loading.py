"""Loading Hugging Face models with one clear error when weights are not on this machine.

Example:
    >>> from socratic.vision.hf_loading import describe_source
    >>> describe_source("Salesforce/blip-image-captioning-base")
    "hub id 'Salesforce/blip-image-captioning-base'"
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import ModelLoadError


def looks_like_path(ref: str) -> bool:
    """True for references that can only mean a local path (absolute, ./, ~, or existing)."""
    return ref.startswith(("/", "./", "../", "~", ".\\")) or os.path.exists(ref)


def describe_source(ref: str) -> str:
    """'local directory PATH' or 'hub id ID' for messages."""
    return f"local directory {ref}" if looks_like_path(ref) else f"hub id '{ref}'"


def hf_stat_identity(ref: str) -> str:
    """A stable identity of a local model directory (file names, sizes, mtimes) or a hub id."""
    path = Path(ref).expanduser()
    if not path.is_dir():
        return f"hub:{ref}"
    parts = []
    for f in sorted(path.iterdir()):
        if f.is_file() and f.suffix in (".safetensors", ".bin", ".json", ".txt", ".model"):
            st = f.stat()
            parts.append(f"{f.name}:{st.st_size}:{st.st_mtime_ns}")
    return f"{path.resolve()}[{';'.join(parts)}]"


def load_hf(ref: str, what: str, loader: Callable[[], Any]) -> Any:
    """Run ``loader`` (a ``from_pretrained`` call); turn failures into one ModelLoadError.

    A missing local directory, a hub id that is not in the local HF cache while offline
    (``HF_HUB_OFFLINE=1`` or no network), and a broken folder each get their own message saying
    how to point at a local copy.
    """
    if looks_like_path(ref) and not Path(ref).expanduser().exists():
        raise ModelLoadError(f"{what}: local directory not found: {ref}")
    try:
        return loader()
    except ModelLoadError:
        raise
    except Exception as exc:
        detail = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''}"
        if Path(ref).expanduser().is_dir():
            msg = f"{what}: cannot load from local directory {ref}: {detail}"
            raise ModelLoadError(msg) from exc
        offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
        why = "HF_HUB_OFFLINE=1 is set" if offline else "no network or no such repository"
        raise ModelLoadError(
            f"{what}: could not fetch hub id '{ref}' ({why}); it is not in the local Hugging Face "
            f"cache. Download it where there is network (`hf download {ref} --local-dir DIR`) "
            f"and set model: DIR (a local directory). Cause: {detail}"
        ) from exc
