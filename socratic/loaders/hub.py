"""Where weights come from, and the one set of ModelLoadError messages of every loader: a missing
local path (:func:`not_found`), a hub id not in the local cache while offline (:func:`offline_error`:
what could not be fetched, how to point at a local copy), a local directory without a loadable
model (:func:`hf_errors`, around ``from_pretrained`` calls).

Example:
    >>> looks_like_path("./models/gpt2"), looks_like_path("openai/clip-vit-base-patch32")
    (True, False)
    >>> with hf_errors("hf model", "/models/nope"):
    ...     pass
    Traceback (most recent call last):
    socratic.errors.ModelLoadError: cannot load hf model: local directory not found: /models/nope
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import ModelLoadError, shorten

HF_FILES = (".safetensors", ".bin", ".json", ".txt", ".model")


def looks_like_path(ref: str) -> bool:
    """True for references that can only mean a local path (hub ids are ``name`` or ``org/name``)."""
    return ref.startswith((".", "/", "~", "\\")) or ref.count("/") > 1 or Path(ref).expanduser().exists()


def stat_identity(path: str | os.PathLike[str], suffixes: Iterable[str] = ()) -> str:
    """Path + name, size and mtime of a file or of the files in a directory (with ``suffixes``):
    a cheap identity that changes when the weights change."""
    path, keep = Path(path).expanduser().resolve(), tuple(suffixes)
    files = [path] if path.is_file() else sorted(
        p for p in path.iterdir()
        if p.is_file() and not p.name.startswith(".") and (not keep or p.suffix in keep)
    )
    return f"{path}[{';'.join(f'{f.name}:{f.stat().st_size}:{f.stat().st_mtime_ns}' for f in files)}]"


def hf_identity(ref: str) -> str:
    """:func:`stat_identity` of a local transformers folder, or ``hub:ID`` for a hub id."""
    return stat_identity(ref, HF_FILES) if Path(ref).expanduser().is_dir() else f"hub:{ref}"


def detail(exc: BaseException) -> str:
    """``Type: message`` of an exception on one line, cut to a readable length."""
    return f"{type(exc).__name__}: {shorten(' '.join(str(exc).split()), 300)}"


def not_found(path: object, what: str | None = None, *, kind: str = "local directory",
              error: type[ModelLoadError] = ModelLoadError) -> ModelLoadError:
    """The one "not found" error: ``cannot load WHAT: KIND not found: PATH``."""
    return error((f"cannot load {what}: " if what else "") + f"{kind} not found: {path}")


def check_local(ref: str, what: str) -> None:
    """Raise :func:`not_found` when ``ref`` can only be a local path and does not exist."""
    if looks_like_path(ref) and not Path(ref).expanduser().exists():
        raise not_found(ref, what)


def offline_error(what: str, ref: str, exc: BaseException, *, fetch: str | None = None,
                  key: str = "model", local_copy: str | None = None) -> ModelLoadError:
    """The one "could not fetch" error: what could not be fetched, why, and how to use a local
    copy (by default ``hf download REF --local-dir DIR``, then ``KEY: DIR``)."""
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "on", "yes", "true")
    local_copy = local_copy or (
        f"download it where there is network (`hf download {ref} --local-dir DIR`) and set {key}: DIR"
    )
    return ModelLoadError(
        f"cannot load {what}: could not fetch {fetch or f'hub id {ref!r}'} "
        f"({'HF_HUB_OFFLINE=1 is set' if offline else 'no network, or no such repository'}); "
        f"'{ref}' is not a local directory and not in the local Hugging Face cache. To use a local "
        f"copy, {local_copy}. Cause: {detail(exc)}"
    )


@contextmanager
def hf_errors(what: str, ref: str, *, key: str = "model") -> Iterator[None]:
    """Run ``from_pretrained`` calls for ``ref``; turn their failures into one ModelLoadError."""
    check_local(ref, what)
    try:
        yield
    except (ModelLoadError, ImportError):
        raise
    except Exception as exc:
        if Path(ref).expanduser().exists():
            raise ModelLoadError(f"{what}: cannot load from local directory {ref}: {detail(exc)}") from exc
        raise offline_error(what, ref, exc, key=key) from None
