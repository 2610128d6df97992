"""Typed nodes: input sockets come from ``run()``'s signature, output sockets are declared.

A node is a small object with a ``run`` (sync) or ``arun`` (async) method. Its input sockets are
the parameters of that method (type hints are the socket types, defaults make sockets optional);
its output sockets are the ``outputs`` mapping. Configuration (which model, which prompt) goes to
``__init__`` and is recorded so a graph can be written back to YAML.

Flags:
- ``batchable``: the node implements ``run_batch`` / ``arun_batch`` over many calls at once; the
  scheduler groups calls from ``for_each`` items and from rows of ``run_many`` into real batches.
- ``blocking``: ``run`` does heavy work (a model forward pass); the scheduler runs it in a worker
  thread so the event loop keeps serving other rows.

Example:
    >>> class Greet(Node):
    ...     outputs = {"greeting": str}
    ...     def __init__(self, punctuation: str = "!"):
    ...         self.punctuation = punctuation
    ...     def run(self, name: str) -> dict:
    ...         return {"greeting": f"Hello, {name}{self.punctuation}"}
    >>> Greet().input_sockets()["name"].type
    <class 'str'>
    >>> Greet(punctuation="?").run(name="Ada")
    {'greeting': 'Hello, Ada?'}
    >>> Greet(punctuation="?").params()
    {'punctuation': '?'}

A typed function becomes a node with :func:`node`:

    >>> @node
    ... def shout(text: str) -> str:
    ...     return text.upper()
    >>> shout().output_sockets()["output"].type
    <class 'str'>
"""

from __future__ import annotations

import functools
import inspect
import sys
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


@dataclass(frozen=True)
class Socket:
    """One typed input or output of a node.

    Example:
        >>> Socket("text", str).required
        True
        >>> Socket("n", int, default=1).required
        False
    """

    name: str
    type: Any
    default: Any = REQUIRED
    description: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


def _resolve_hints(fn: Callable[..., Any]) -> dict[str, Any]:
    """Type hints of ``fn``; an annotation naming something imported only for type checking
    (a model class kept out of ``socratic validate``'s imports) resolves to ``Any``."""
    try:
        return typing.get_type_hints(fn)
    except Exception:
        pass
    module = sys.modules.get(getattr(fn, "__module__", ""), None)
    namespace = dict(vars(module)) if module is not None else {}
    hints: dict[str, Any] = {}
    for name, ann in getattr(fn, "__annotations__", {}).items():
        if not isinstance(ann, str):
            hints[name] = ann
            continue
        try:
            hints[name] = typing._eval_type(typing.ForwardRef(ann), namespace, None)  # type: ignore[attr-defined]
        except Exception:
            hints[name] = Any
    return hints


def _signature_sockets(fn: Callable[..., Any]) -> dict[str, Socket]:
    hints = _resolve_hints(fn)
    sockets: dict[str, Socket] = {}
    for name, p in inspect.signature(fn).parameters.items():
        if name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        default = REQUIRED if p.default is inspect.Parameter.empty else p.default
        sockets[name] = Socket(name, hints.get(name, Any), default)
    return sockets


class Node:
    """Base class of every graph node (see the module docstring for an example).

    Subclasses define ``outputs`` (name -> type) and ``run(**inputs) -> dict`` or
    ``async arun(**inputs) -> dict``. Override :meth:`input_sockets` / :meth:`output_sockets`
    when the sockets depend on configuration (a prompt's template variables, a parser's type).
    """

    #: registered short name (set by the registry / ``@node(name=...)``)
    type_name: ClassVar[str] = ""
    #: declared output sockets (name -> type)
    outputs: ClassVar[dict[str, Any]] = {}
    batchable: ClassVar[bool] = False
    blocking: ClassVar[bool] = False
    #: the kind of model resource the ``model`` option takes ("llm", "clip", "captioner")
    model_kind: ClassVar[str | None] = None
    #: max calls per batch for batchable nodes (instances may override with ``batch_size``)
    max_batch_size: ClassVar[int] = 64
    #: ``__init__`` options filled from the graph's :class:`~socratic.context.BuildContext`
    #: (e.g. ``prompt_dirs``); a YAML file cannot set them
    context_options: ClassVar[tuple[str, ...]] = ()

    _params: dict[str, Any]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            original = cls.__dict__["__init__"]
            sig = inspect.signature(original)

            @functools.wraps(original)
            def __init__(self: Node, *args: Any, **kw: Any) -> None:
                if "_params" not in self.__dict__:  # the most derived __init__ records
                    given = dict(sig.bind(self, *args, **kw).arguments)
                    given.pop("self", None)
                    for name, p in sig.parameters.items():
                        if p.kind == p.VAR_KEYWORD and name in given:
                            given.update(given.pop(name))
                    self._params = given
                original(self, *args, **kw)

            cls.__init__ = __init__  # type: ignore[method-assign]

    # -- sockets ---------------------------------------------------------------------------
    @classmethod
    def _run_method(cls) -> Callable[..., Any]:
        if cls.run is not Node.run:
            return cls.run
        return cls.arun

    def input_sockets(self) -> dict[str, Socket]:
        """Input sockets: ``run``'s (or ``arun``'s) parameters."""
        return _signature_sockets(type(self)._run_method())

    def output_sockets(self) -> dict[str, Socket]:
        """Output sockets: the ``outputs`` mapping."""
        return {name: Socket(name, tp) for name, tp in self.outputs.items()}

    @classmethod
    def option_types(cls) -> dict[str, Any]:
        """Configuration options (``__init__`` parameters) and their types."""
        init = cls.__dict__.get("__init__") or cls.__init__
        init = getattr(init, "__wrapped__", init)
        if init is object.__init__:
            return {}
        hints = _resolve_hints(init)
        out = {}
        for name, p in inspect.signature(init).parameters.items():
            if name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            out[name] = hints.get(name, Any)
        return out

    def params(self) -> dict[str, Any]:
        """The options this node was built with (non-defaults), for writing back to YAML."""
        return dict(self.__dict__.get("_params", {}))

    def models(self) -> list[Any]:
        """Model resources this node uses (for per-model concurrency and loading)."""
        m = getattr(self, "model", None)
        return [m] if m is not None else []

    # -- running -----------------------------------------------------------------------------
    def run(self, **inputs: Any) -> Any:
        """Compute the outputs from the inputs (sync). Return a dict keyed by output name."""
        raise NotImplementedError(f"{type(self).__name__} implements neither run nor arun")

    async def arun(self, **inputs: Any) -> Any:
        """Async variant; the default calls ``run`` (in a worker thread when ``blocking``)."""
        if type(self).run is Node.run:
            raise NotImplementedError(f"{type(self).__name__} implements neither run nor arun")
        if self.blocking:
            import asyncio

            return await asyncio.to_thread(functools.partial(self.run, **inputs))
        return self.run(**inputs)

    def run_batch(self, calls: list[dict[str, Any]]) -> list[Any]:
        """Run many calls at once (batchable nodes override this with a real batch)."""
        return [self.run(**c) for c in calls]

    async def arun_batch(self, calls: list[dict[str, Any]]) -> list[Any]:
        """Async batch; default runs ``run_batch`` in a thread when blocking."""
        if type(self).run_batch is not Node.run_batch or type(self).run is not Node.run:
            if self.blocking:
                import asyncio

                return await asyncio.to_thread(self.run_batch, calls)
            return self.run_batch(calls)
        import asyncio

        return list(await asyncio.gather(*(self.arun(**c) for c in calls)))

    @property
    def is_async(self) -> bool:
        return type(self).run is Node.run

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


class FunctionNode(Node):
    """A node made from a typed function by :func:`node` (one output named by ``output_name``,
    or several when the decorator is given ``outputs=``)."""

    fn: ClassVar[Callable[..., Any]]
    single_output: ClassVar[str | None] = "output"

    def input_sockets(self) -> dict[str, Socket]:
        return _signature_sockets(type(self).fn)

    def run(self, **inputs: Any) -> Any:
        result = type(self).fn(**inputs)
        return {self.single_output: result} if self.single_output else result

    async def arun(self, **inputs: Any) -> Any:
        fn = type(self).fn
        if inspect.iscoroutinefunction(fn):
            result = await fn(**inputs)
            return {self.single_output: result} if self.single_output else result
        return await super().arun(**inputs)

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(type(self).fn)


def node(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    outputs: dict[str, Any] | None = None,
    blocking: bool = False,
    register: bool = True,
) -> Any:
    """Turn a typed function (sync or async) into a node class.

    With no ``outputs``, the return annotation is the type of the single output ``output``.
    With ``outputs={...}`` the function returns a dict. ``name`` registers the node type for
    YAML (default: the function's name, in the ``fn.`` namespace when registered).

    Example:
        >>> @node(name="demo.count_words")
        ... def count_words(text: str) -> int:
        ...     return len(text.split())
        >>> count_words().run(text="a b c")
        {'output': 3}
        >>> from socratic.registry import node_class
        >>> node_class("demo.count_words") is count_words
        True
    """

    def wrap(f: Callable[..., Any]) -> type[FunctionNode]:
        if outputs is None:
            hints = typing.get_type_hints(f)
            out = {"output": hints.get("return", Any)}
            single: str | None = "output"
        else:
            out, single = dict(outputs), None
        attrs = {
            "fn": staticmethod(f),
            "outputs": out,
            "single_output": single,
            "blocking": blocking,
            "type_name": name or f"fn.{f.__name__}",
            "__doc__": f.__doc__,
            "__module__": f.__module__,
            "__qualname__": f.__qualname__,
        }
        cls = type(f.__name__, (FunctionNode,), attrs)
        if register:
            from .registry import register_node

            register_node(cls.type_name, cls)
        return cls

    return wrap(fn) if fn is not None else wrap
