"""References between sockets: ``${inputs.NAME}`` and ``${NODE.SOCKET}``.

Example:
    >>> Ref.parse("${describe.output}")
    Ref(node='describe', socket='output')
    >>> str(Ref("inputs", "image"))
    '${inputs.image}'
    >>> is_ref_text("${a.b}"), is_ref_text("a.b")
    (True, False)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

INPUTS = "inputs"
_REF = re.compile(r"^\$\{\s*([A-Za-z_][\w\-]*)\.([A-Za-z_][\w\-]*)\s*\}$")
_BARE = re.compile(r"^([A-Za-z_][\w\-]*)\.([A-Za-z_][\w\-]*)$")


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


def is_ref_text(value: Any) -> bool:
    """Is this a whole ``${...}`` reference string?"""
    return isinstance(value, str) and _REF.match(value.strip()) is not None


def has_embedded_ref(value: Any) -> bool:
    """A string that contains ``${`` but is not one whole reference (a likely mistake)."""
    return isinstance(value, str) and "${" in value and not is_ref_text(value)
