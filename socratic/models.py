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

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .errors import GraphError, ModelLoadError, did_you_mean, shorten


class Resources(BaseModel):
    """What one copy of a model needs, and how many copies run, under ``--engine ray`` (the local
    engine ignores it). Unset values take the Ray engine's defaults (see docs/scaling.md).

    Example:
        >>> Resources(num_gpus=1, replicas=[1, 4]).replicas
        (1, 4)
        >>> Resources(replicas=0)
        Traceback (most recent call last):
        pydantic_core._pydantic_core.ValidationError: 1 validation error for Resources
        replicas
          Value error, replicas must be at least 1, got 0 [type=value_error, input_value=0, input_type=int]
            For further information visit https://errors.pydantic.dev/2.14/v/value_error
    """

    model_config = ConfigDict(extra="forbid")
    num_gpus: float | None = Field(None, ge=0, description="GPUs per copy (fractions share a GPU)")
    num_cpus: float | None = Field(None, gt=0, description="CPUs per copy (fractions allowed)")
    replicas: int | tuple[int, int] | None = Field(
        None, description="copies of the model (actors): N, or [MIN, MAX] to autoscale")
    batch_size: int | None = Field(None, ge=1, description="rows handed to one copy at once")

    @field_validator("replicas")
    @classmethod
    def _replicas(cls, v: int | tuple[int, int] | None) -> int | tuple[int, int] | None:
        low, high = (v, v) if isinstance(v, int) else v if v is not None else (1, 1)
        if low < 1:
            raise ValueError(f"replicas must be at least 1, got {low}")
        if high < low:
            raise ValueError(f"replicas [MIN, MAX] needs MIN <= MAX, got [{low}, {high}]")
        return v


class BackendConfig(BaseModel):
    """Base class of backend configs: unknown keys are errors (typos never pass silently).
    Every backend takes ``resources`` (:class:`Resources`), read by the Ray engine only."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=(), defer_build=True)
    resources: Resources | None = Field(
        None, description="under --engine ray: {num_gpus, num_cpus, replicas, batch_size} per model")


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

    def __new__(cls, *args: Any, **kwargs: Any) -> ModelBackend:
        obj = super().__new__(cls)
        obj._init_args = (args, kwargs)  # how to build it again (see __reduce__)
        return obj

    def __init__(self, **config: Any) -> None:
        self.config = self.Config(**config)
        self._resource: Any = None
        self._loaded = False
        self._load_lock = threading.Lock()
        self._context: Any = None

    def serves(self, kind: str) -> bool:
        """Can nodes that need a ``kind`` model use this one? (A CoCa is a CLIP and a captioner.)"""
        return kind == self.kind

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

    def __reduce__(self) -> tuple[Any, ...]:
        """A backend travels (to Ray workers) as what built it: its class, constructor arguments
        and build context, never its loaded weights or clients; the copy loads on first use."""
        args, kwargs = self.__dict__.get("_init_args", ((), {}))
        return (_rebuild, (type(self), args, kwargs, self._context))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"


def _rebuild(cls: type[ModelBackend], args: tuple[Any, ...], kwargs: dict[str, Any],
             context: Any) -> ModelBackend:
    backend = cls(*args, **kwargs)
    return backend.bind(context) if context is not None else backend


# backend name -> (kind, "module:Class"); imported only when a backend is used or validated
_BACKENDS: dict[str, tuple[str, str]] = {
    "replay": ("llm", "socratic.llm.replay:ReplayLLM"),
    "openai": ("llm", "socratic.llm.openai_backend:OpenAILLM"),
    "hf": ("llm", "socratic.llm.hf:HFLLM"),
    "langchain": ("llm", "socratic.llm.langchain_backend:LangChainLLM"),
    "vllm": ("llm", "socratic.llm.vllm:VLLMLLM"),
    "open_clip": ("clip", "socratic.vision.clip_open:OpenClipModel"),
    "hf_clip": ("clip", "socratic.vision.clip_hf:HFClipModel"),
    "hf_captioner": ("captioner", "socratic.vision.captioner:HFCaptioner"),
    "bridge": ("captioner", "socratic.vision.bridge_captioner:BridgeCaptioner"),
    "hf_itm": ("itm", "socratic.vision.itm:HFImageTextMatcher"),
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
