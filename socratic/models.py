"""Model resources: the things a graph's ``models:`` section names (LLMs, CLIP, captioners).

A model backend is built cheaply from its config and loads its weights (or client) lazily, once,
on first use; every node that names it shares the same object. Backends are registered by short
name with a lazy ``"module:Class"`` path, so looking one up (for ``socratic validate``) imports
no heavy library.

Example:
    >>> from socratic.models import backend_class, backend_names
    >>> "replay" in backend_names("llm")
    True
    >>> backend_class("replay").kind
    'llm'
"""

from __future__ import annotations

import importlib
import threading
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from .errors import GraphError, ModelLoadError, did_you_mean, shorten


class BackendConfig(BaseModel):
    """Base class of backend configs: unknown keys are errors (typos never pass silently)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=(), defer_build=True)


class ModelBackend:
    """Base class of every model resource.

    Subclasses set ``kind`` ("llm", "clip", "captioner"), ``backend`` (the registered name) and
    ``Config`` (a :class:`BackendConfig`), and implement ``_load()``. Construction validates the
    config and loads nothing.

    Example:
        >>> class Echo(ModelBackend):
        ...     kind, backend = "llm", "echo"
        ...     class Config(BackendConfig):
        ...         model: str = "echo"
        ...     def _load(self):
        ...         return "client"
        >>> m = Echo(model="x")
        >>> m.loaded
        False
        >>> m.resource()
        'client'
    """

    kind: ClassVar[str] = ""
    backend: ClassVar[str] = ""
    Config: ClassVar[type[BackendConfig]] = BackendConfig
    #: how many calls may run at once against this model (API backends raise it)
    default_concurrency: ClassVar[int] = 1

    def __init__(self, **config: Any) -> None:
        self.config = self.Config(**config)
        self._resource: Any = None
        self._loaded = False
        self._load_lock = threading.Lock()
        self._context: Any = None

    def bind(self, context: Any) -> ModelBackend:
        """Use a graph's :class:`~socratic.context.BuildContext` (its cache); returns self."""
        self._context = context
        return self

    def response_cache(self) -> Any:
        """The cache this model reads and writes (its graph's, else the default; ``None``: off)."""
        if self._context is not None:
            return self._context.response_cache()
        from .cache import get_cache

        return get_cache()

    @property
    def loaded(self) -> bool:
        return self._loaded

    @property
    def max_concurrency(self) -> int:
        return int(getattr(self.config, "max_concurrency", None) or self.default_concurrency)

    @property
    def name(self) -> str:
        """A readable identity: backend and model id."""
        model = getattr(self.config, "model", None) or getattr(self.config, "path", None)
        return f"{self.backend}:{model}" if model else self.backend

    def resource(self) -> Any:
        """Load once (thread-safe) and return what ``_load`` built. A load that failed with a
        :class:`ModelLoadError` fails the same way for every later caller (no retry per row)."""
        if not self._loaded:
            with self._load_lock:
                failed = self.__dict__.get("_load_error")
                if failed is not None:
                    raise failed
                if not self._loaded:
                    try:
                        self._resource = self._load()
                    except ModelLoadError as exc:
                        self._load_error = exc
                        raise
                    self._loaded = True
        return self._resource

    def _load(self) -> Any:
        return None

    def to_spec(self) -> dict[str, Any]:
        """The ``models:`` entry that rebuilds this backend."""
        return {"backend": self.backend, **self.config.model_dump(exclude_defaults=True)}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"


# backend name -> (kind, "module:Class"); imported only when a backend is used or validated
_BACKENDS: dict[str, tuple[str, str]] = {
    "replay": ("llm", "socratic.llm.replay:ReplayLLM"),
    "openai": ("llm", "socratic.llm.openai_backend:OpenAILLM"),
    "hf": ("llm", "socratic.llm.hf:HFLLM"),
    "langchain": ("llm", "socratic.llm.langchain_backend:LangChainLLM"),
    "bridge_llm": ("llm", "socratic.llm.bridge:BridgeLLM"),
    "open_clip": ("clip", "socratic.vision.clip_open:OpenClipModel"),
    "hf_clip": ("clip", "socratic.vision.clip_hf:HFClipModel"),
    "hf_captioner": ("captioner", "socratic.vision.captioner:HFCaptioner"),
    "bridge": ("captioner", "socratic.vision.bridge_captioner:BridgeCaptioner"),
}


def register_backend(name: str, kind: str, target: str | type[ModelBackend]) -> None:
    """Register a backend under a short name (``target`` is a class or ``"module:Class"``)."""
    if isinstance(target, type):
        target = f"{target.__module__}:{target.__qualname__}"
    _BACKENDS[name] = (kind, target)


def backend_names(kind: str | None = None) -> list[str]:
    return sorted(n for n, (k, _) in _BACKENDS.items() if kind is None or k == kind)


def backend_class(name: str) -> type[ModelBackend]:
    """Import and return the backend class registered as ``name``."""
    if name not in _BACKENDS:
        hint = did_you_mean(name, _BACKENDS)
        raise GraphError(f"unknown model backend '{shorten(name, 100)}'{hint};"
                         f" known: {', '.join(backend_names())}")
    module, _, qualname = _BACKENDS[name][1].partition(":")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def build_backend(spec: dict[str, Any]) -> ModelBackend:
    """Build (not load) a backend from a ``models:`` entry: ``{backend: NAME, ...config}``."""
    spec = dict(spec)
    name = spec.pop("backend", None)
    if not name:
        raise GraphError("model entry needs a 'backend' key")
    return backend_class(name)(**spec)
