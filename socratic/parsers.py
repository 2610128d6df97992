"""Parsers that turn an LLM's text into typed values; failures show the raw text.

=========  ==========================================  ===========================
spec       reads                                       output type
=========  ==========================================  ===========================
text       the whole answer, stripped                  str
lines      non-empty lines                             list[str]
bullets    "- ", "* ", "• " or "1." items              list[str]
number     the first number                            float
json       the first JSON value; ``{json: TYPE}``      TYPE (default any)
regex      ``{regex: PATTERN}``: group 1 (or all)      str
choice     ``{choice: [a, b]}`` or labels at run time  str
=========  ==========================================  ===========================

Example:
    >>> make_parser("bullets").parse("red fur\\n- long tail\\n- large eyes\\n\\nQ: next")
    ['red fur', 'long tail', 'large eyes']
    >>> make_parser({"choice": ["cat", "dog"]}).parse("I think it is a Dog.")
    'dog'
    >>> make_parser({"json": "list[int]"}).parse("Sure: ```json\\n[1, 2]\\n```")
    [1, 2]
    >>> make_parser("number").parse("no digits here")
    Traceback (most recent call last):
    socratic.errors.ParseError: could not parse answer as number: no number found
    raw text: 'no digits here'
"""

from __future__ import annotations

import json
import re
from typing import Any

from .errors import GraphError, ParseError
from .types import parse_type, type_name

_BULLET = re.compile(r"^\s*(?:[-*•·]|\d{1,3}[.)])\s+(.*\S)\s*$")
_NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[-+]?\.\d+")


class Parser:
    """Base class: ``parse(text, choices=None) -> value`` and a declared ``output_type``.

    Example:
        >>> Parser().parse("  hi  ")
        'hi'
    """

    name = "text"
    output_type: Any = str
    needs_choices = False

    def parse(self, text: str, choices: list[str] | None = None) -> Any:
        return text.strip()

    def spec(self) -> Any:
        return self.name


class Lines(Parser):
    name = "lines"
    output_type = list[str]

    def parse(self, text: str, choices: list[str] | None = None) -> Any:
        items = [ln.strip() for ln in text.splitlines() if ln.strip()]
        if not items:
            raise ParseError(self.name, text, "no lines")
        return items


class Bullets(Parser):
    """Bullet items; the first line may be a bare item (the prompt ended with "-")."""

    name = "bullets"
    output_type = list[str]

    def parse(self, text: str, choices: list[str] | None = None) -> Any:
        items: list[str] = []
        for i, line in enumerate(text.splitlines()):
            if not line.strip():
                continue
            m = _BULLET.match(line)
            if m:
                items.append(m.group(1).strip())
            elif i == 0 or (not items and not line.lstrip().startswith(("Q:", "A:"))):
                items.append(line.strip().lstrip("-").strip())
            else:
                break
        items = [it for it in items if it]
        if not items:
            raise ParseError(self.name, text, "no bullet items")
        return items


class Number(Parser):
    name = "number"
    output_type = float

    def parse(self, text: str, choices: list[str] | None = None) -> Any:
        m = _NUMBER.search(text)
        if not m:
            raise ParseError(self.name, text, "no number found")
        return float(m.group(0).replace(",", ""))


class Json(Parser):
    """The first JSON object or array in the text (code fences allowed), type-checked."""

    name = "json"

    def __init__(self, type_text: str = "any") -> None:
        try:
            self.output_type = parse_type(type_text)
        except ValueError as exc:
            raise GraphError(f"parse json: {exc}") from None
        self.type_text = type_text

    def spec(self) -> Any:
        return {"json": self.type_text} if self.type_text != "any" else "json"

    def parse(self, text: str, choices: list[str] | None = None) -> Any:
        from pydantic import TypeAdapter, ValidationError

        decoder = json.JSONDecoder()
        adapter = TypeAdapter(self.output_type)
        first_error: str | None = None
        for starts in (r"[\[{]", r"[\"0-9tfn-]"):  # objects and arrays first, then scalars
            for m in re.finditer(starts, text):
                try:
                    value, _ = decoder.raw_decode(text, m.start())
                except json.JSONDecodeError:
                    continue
                try:
                    return adapter.validate_python(value, strict=False)
                except ValidationError as exc:
                    first_error = first_error or exc.errors()[0]["msg"]
        if first_error is None:
            raise ParseError("json", text, "no JSON value found")
        raise ParseError("json", text, f"not a {type_name(self.output_type)}: {first_error}")


class Regex(Parser):
    name = "regex"

    def __init__(self, pattern: str) -> None:
        try:
            self.pattern = re.compile(pattern, re.IGNORECASE | re.DOTALL)
        except re.error as exc:
            raise GraphError(f"parse regex {pattern!r}: {exc}") from None

    def spec(self) -> Any:
        return {"regex": self.pattern.pattern}

    def parse(self, text: str, choices: list[str] | None = None) -> Any:
        m = self.pattern.search(text)
        if not m:
            raise ParseError("regex", text, f"pattern {self.pattern.pattern!r} not found")
        return (m.group(1) if m.groups() else m.group(0)).strip()


class Choice(Parser):
    """One of the allowed labels: an exact (case-insensitive) answer first, else the label
    mentioned earliest in the text (the longest one when two start at the same place)."""

    name = "choice"

    def __init__(self, labels: list[str] | None = None) -> None:
        self.labels = list(labels) if labels else None
        self.needs_choices = self.labels is None

    def spec(self) -> Any:
        return {"choice": self.labels} if self.labels else "choice"

    def parse(self, text: str, choices: list[str] | None = None) -> Any:
        labels = self.labels or choices
        if not labels:
            raise ParseError("choice", text, "no labels to choose from")
        words = " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())
        for label in labels:
            if words == " ".join(re.sub(r"[^\w\s]", " ", label.lower()).split()):
                return label
        best: tuple[int, int, str] | None = None
        for label in labels:
            norm = " ".join(re.sub(r"[^\w\s]", " ", label.lower()).split())
            m = re.search(rf"\b{re.escape(norm)}\b", words) if norm else None
            if m and (best is None or (m.start(), -len(norm)) < (best[0], best[1])):
                best = (m.start(), -len(norm), label)
        if best is None:
            raise ParseError("choice", text, f"none of the labels {labels} found")
        return best[2]


_SIMPLE = {"text": Parser, "lines": Lines, "bullets": Bullets, "number": Number, "json": Json,
           "choice": Choice}


def make_parser(spec: Any) -> Parser:
    """Build a parser from its spec: a name, or a one-key mapping (``{json: list[str]}``)."""
    if spec is None:
        return Parser()
    if isinstance(spec, Parser):
        return spec
    if isinstance(spec, str):
        if spec in _SIMPLE:
            return _SIMPLE[spec]()
        if spec == "regex":
            raise GraphError("parse: regex needs a pattern, e.g. {regex: 'Answer: (.*)'}")
    elif isinstance(spec, dict) and len(spec) == 1:
        (kind, arg), = spec.items()
        if kind == "json":
            return Json(str(arg))
        if kind == "regex":
            return Regex(str(arg))
        if kind == "choice":
            if not isinstance(arg, list) or not all(isinstance(x, str) for x in arg):
                raise GraphError("parse: choice needs a list of labels")
            return Choice(arg)
    known = ", ".join([*_SIMPLE, "regex"])
    raise GraphError(f"unknown parser {spec!r}; known: {known}")
