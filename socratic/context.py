"""What a graph is built with — base folder, prompt folders, the response cache — passed
explicitly to the nodes and models of one graph (no module globals decide how a graph is built).

Nodes name the context values their ``__init__`` takes in ``context_options`` (``llm.generate``
takes ``prompt_dirs``); the YAML loader fills them, a YAML file cannot. Models get the cache
with :meth:`socratic.models.ModelBackend.bind`.

Example:
    >>> ctx = BuildContext(base_dir="graphs", prompt_dirs=("graphs/prompts",), cache=None)
    >>> ctx.response_cache() is None
    True
    >>> BuildContext().response_cache() is not None   # the default cache ($SOCRATIC_CACHE_DIR ...)
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .cache import Cache

#: the ``cache`` value meaning "the default cache" (``$SOCRATIC_CACHE_DIR`` or the user cache)
DEFAULT_CACHE = "default"


@dataclass(frozen=True)
class BuildContext:
    """The explicit inputs of building a graph.

    ``base_dir``: the folder ``./`` paths are relative to (the graph file's). ``prompt_dirs``:
    the graph's own template folders, searched before ``$SOCRATIC_PROMPTS_PATH`` and the shipped
    ones. ``cache``: a :class:`~socratic.cache.Cache`, ``None`` for no cache, or
    ``"default"``.

    Example:
        >>> BuildContext(prompt_dirs=("p",)).prompt_dirs
        ('p',)
    """

    base_dir: str = "."
    prompt_dirs: tuple[str, ...] = ()
    cache: Any = DEFAULT_CACHE

    def response_cache(self) -> Cache | None:
        """The cache models of this graph use (``None``: no cache)."""
        if isinstance(self.cache, str) and self.cache == DEFAULT_CACHE:
            from .cache import get_cache

            return get_cache()
        return self.cache

    def value(self, name: str) -> Any:
        """A context value by name (for a node's ``context_options``)."""
        return list(self.prompt_dirs) if name == "prompt_dirs" else getattr(self, name)
