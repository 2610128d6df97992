"""Small text and list nodes: templates, joining, parsing, flattening.

Example:
    >>> Template(template="{{ a }} + {{ b }}").run(a=1, b=2)
    {'output': '1 + 2'}
    >>> Join(separator=", ").run(items=["x", "y"])
    {'output': 'x, y'}
    >>> Parse(parse="number").run(text="It is 42.")
    {'output': 42.0}
"""

from __future__ import annotations

from typing import Any

from ..errors import GraphError
from ..node import REQUIRED, Node, Socket
from ..parsers import make_parser
from ..prompt import PromptTemplate, load_prompt


class Template(Node):
    """``text.template``: render a Jinja2 template (inline ``template`` or a ``prompt`` name);
    its variables are the inputs, the text is ``output``.

    Example:
        >>> Template(template="Hi {{ name }}").input_sockets()["name"].required
        True
    """

    outputs = {"output": str}
    context_options = ("prompt_dirs",)

    def __init__(self, template: str | None = None, prompt: str | None = None,
                 prompt_dirs: list[str] | None = None) -> None:
        if (template is None) == (prompt is None):
            raise GraphError("text.template needs exactly one of 'template' or 'prompt'")
        self.template = (
            PromptTemplate.from_string(template) if template is not None
            else load_prompt(prompt or "", prompt_dirs or ())
        )

    def input_sockets(self) -> dict[str, Socket]:
        origin = f"variable of template '{self.template.name}'"
        return {v: Socket(v, Any, REQUIRED, origin) for v in sorted(self.template.variables)}

    def run(self, **variables: Any) -> dict[str, Any]:
        return {"output": self.template.render(variables)}


class Join(Node):
    """``text.join``: join a list of strings with ``separator`` (default newline).

    Example:
        >>> Join().run(items=["a", "b"])["output"]
        'a\\nb'
    """

    outputs = {"output": str}

    def __init__(self, separator: str = "\n") -> None:
        self.separator = separator

    def run(self, items: list[str]) -> dict[str, Any]:
        return {"output": self.separator.join(items)}


class Parse(Node):
    """``text.parse``: parse a text with any parser (``choices`` input for ``parse: choice``).

    Example:
        >>> Parse(parse={"choice": ["yes", "no"]}).run(text="No, never.")["output"]
        'no'
    """

    def __init__(self, parse: Any = "text") -> None:
        self.parser = make_parser(parse)

    def input_sockets(self) -> dict[str, Socket]:
        sockets = {"text": Socket("text", str)}
        if self.parser.needs_choices:
            sockets["choices"] = Socket("choices", list[str])
        return sockets

    def output_sockets(self) -> dict[str, Socket]:
        return {"output": Socket("output", self.parser.output_type)}

    def run(self, text: str, choices: list[str] | None = None) -> dict[str, Any]:
        return {"output": self.parser.parse(text, choices=choices)}


class Flatten(Node):
    """``list.flatten``: a list of lists -> one list.

    Example:
        >>> Flatten().run(items=[[1], [2, 3]])
        {'output': [1, 2, 3]}
    """

    outputs = {"output": list[Any]}

    def run(self, items: list[list[Any]]) -> dict[str, Any]:
        return {"output": [x for sub in items for x in sub]}
