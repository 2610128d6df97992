"""socratic: typed prompt graphs composing CLIP, captioners and LLMs (Socratic Models).

Heavy libraries (torch, transformers, open_clip, openai) are imported only when a model loads.

Example:
    >>> from socratic import Graph, node
    >>> @node
    ... def hello(name: str) -> str:
    ...     return f"Hello, {name}"
    >>> g = Graph("hi"); g.add_input("name", str); g.add("h", hello, name="inputs.name")
    >>> g.add_output("text", "h.output"); g.run(name="Ada")
    {'text': 'Hello, Ada'}
"""

from .errors import GraphError, InputError, NodeError, SocraticError, ValidationFailed
from .graph import Graph
from .node import Node, Socket, node
from .refs import Const, Ref
from .types import Embedding, Image, Scores

__version__ = "0.1.0"

__all__ = [
    "Const",
    "Embedding",
    "Graph",
    "GraphError",
    "Image",
    "InputError",
    "Node",
    "NodeError",
    "Ref",
    "Scores",
    "Socket",
    "SocraticError",
    "ValidationFailed",
    "load",
    "node",
]


def load(path: str, *, overrides: list[str] | None = None) -> Graph:
    """Load and validate a YAML graph file.

    Example:
        >>> import socratic
        >>> g = socratic.load("examples/hello.yaml")   # doctest: +SKIP
    """
    return Graph.from_yaml(path, overrides=overrides)
