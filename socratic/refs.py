"""References between sockets: ``${inputs.NAME}`` and ``${NODE.SOCKET}``, alone or inside lists
and mappings (a :class:`Pack`), and the one rule for ``${`` in text.

The rule, the same in every place of a graph file: a string that contains ``${`` must be exactly
one whole reference, and references go only where data goes (a node's input sockets, at any
depth of a list or mapping, and ``outputs``). ``$${`` writes a literal ``${``. Anything else —
``"hello ${inputs.name}"``, a reference in a model option or node option — is an error that
says so (build text with ``text.template``).

Example:
    >>> Ref.parse("${describe.output}")
    Ref(node='describe', socket='output')
    >>> str(Ref("inputs", "image"))
    '${inputs.image}'
    >>> p = read_value(["${gen.output}", "x", {"k": "${inputs.a}"}])
    >>> p.template, [(path, str(ref)) for path, ref in p.refs]
    ([None, 'x', {'k': None}], [((0,), '${gen.output}'), ((2, 'k'), '${inputs.a}')])
    >>> read_value("costs $${price}")
    'costs ${price}'
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

INPUTS = "inputs"
_REF = re.compile(r"^\$\{\s*([A-Za-z_][\w\-]*)\.([A-Za-z_][\w\-]*)\s*\}$")
_BARE = re.compile(r"^([A-Za-z_][\w\-]*)\.([A-Za-z_][\w\-]*)$")
_OPEN = re.compile(r"(?<!\$)\$\{")

Path = tuple[Any, ...]


@dataclass(frozen=True)
class Ref:
    """A reference to a graph input (``node == "inputs"``) or a node's output socket."""

    node: str
    socket: str

    @classmethod
    def parse(cls, text: str) -> Ref:
        """Read ``${node.socket}`` (or bare ``node.socket``, accepted from Python)."""
        m = _REF.match(text.strip()) or _BARE.match(text.strip())
        if not m:
            raise ValueError(
                f"cannot read reference {text!r}: expected ${{inputs.NAME}} or ${{NODE.SOCKET}}"
            )
        return cls(m.group(1), m.group(2))

    @property
    def is_input(self) -> bool:
        return self.node == INPUTS

    def __str__(self) -> str:
        return f"${{{self.node}.{self.socket}}}"


@dataclass(frozen=True)
class Const:
    """A constant bound to an input socket (Python API: ``g.add("n", node, k=Const(5))``)."""

    value: Any


@dataclass(frozen=True)
class Pack:
    """A list or mapping (any depth) with references inside: ``template`` holds ``None`` where
    each reference goes, ``refs`` the ``(path, Ref)`` pairs in order.

    Example:
        >>> p = read_value({"a": ["${x.y}", 2]})
        >>> p.build(lambda ref: f"<{ref.node}>")
        {'a': ['<x>', 2]}
    """

    template: Any
    refs: tuple[tuple[Path, Ref], ...]

    def build(self, value_of: Callable[[Ref], Any]) -> Any:
        """The value with each reference replaced by ``value_of(ref)``."""
        out = copy.deepcopy(self.template) if self.refs else self.template
        for path, ref in self.refs:
            target = out
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = value_of(ref)
        return out

    def to_data(self) -> Any:
        """The YAML form: the template with ``"${...}"`` strings where references go."""
        return self.build(str)


def is_ref_text(value: Any) -> bool:
    """Is this a whole ``${...}`` reference string?"""
    return isinstance(value, str) and _REF.match(value.strip()) is not None


def has_embedded_ref(value: Any) -> bool:
    """A string that contains an unescaped ``${`` but is not one whole reference."""
    return isinstance(value, str) and bool(_OPEN.search(value)) and not is_ref_text(value)


def unescape(text: str) -> str:
    """``$${`` -> ``${`` (how a literal ``${`` is written)."""
    return text.replace("$${", "${")


def escape(value: Any) -> Any:
    """The inverse of :func:`unescape`, through lists and mappings (for writing YAML back)."""
    if isinstance(value, str):
        return value.replace("${", "$${")
    if isinstance(value, list):
        return [escape(v) for v in value]
    if isinstance(value, dict):
        return {k: escape(v) for k, v in value.items()}
    return value


def embedded_refs(value: Any, path: Path = ()) -> Iterator[tuple[Path, str]]:
    """``(path, text)`` of every string in ``value`` that contains an unescaped ``${``."""
    if isinstance(value, str):
        if _OPEN.search(value):
            yield path, value
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from embedded_refs(v, (*path, i))
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from embedded_refs(v, (*path, k))


def read_value(value: Any, *, refs_as: type = str) -> Any:
    """A socket value from a file (``refs_as=str``: ``"${a.b}"`` strings are references) or
    from Python (``refs_as=Ref``: :class:`Ref` objects are): a :class:`Ref`, a :class:`Pack`,
    or a constant (literal ``$${`` unescaped). Mixed text must be checked first
    (:func:`embedded_refs`)."""
    found: list[tuple[Path, Ref]] = []

    def walk(v: Any, path: Path) -> Any:
        if (refs_as is str and is_ref_text(v)) or isinstance(v, Ref):
            found.append((path, v if isinstance(v, Ref) else Ref.parse(v)))
            return None
        if isinstance(v, str):
            return unescape(v) if refs_as is str else v
        if isinstance(v, list):
            return [walk(x, (*path, i)) for i, x in enumerate(v)]
        if isinstance(v, dict):
            return {k: walk(x, (*path, k)) for k, x in v.items()}
        return v

    template = walk(value, ())
    if found and found[0][0] == ():
        return found[0][1]
    return Pack(template, tuple(found)) if found else template
