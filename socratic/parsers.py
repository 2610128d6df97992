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
json_schema ``{json_schema: SCHEMA}`` or a pydantic   dict (the model), and one
           model: JSON validated against the schema    typed output per property
=========  ==========================================  ===========================

With ``json_schema`` the LLM is asked for JSON of that schema (OpenAI's ``response_format``,
constrained decoding where the backend has it, else an instruction in the prompt); the answer
is validated (``jsonschema``, or the pydantic model), and a failure shows the raw text and every
schema error.

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

    def format_hint(self) -> str:
        """How the expected format is described when the model is asked again."""
        return self.name

    def fields(self) -> dict[str, Any]:
        """Extra typed outputs taken from the parsed value (name -> type)."""
        return {}

    def field_values(self, value: Any) -> dict[str, Any]:
        return {}


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


_JSON_TYPES: dict[str, Any] = {"string": str, "integer": int, "number": float, "boolean": bool}


def schema_type(schema: Any) -> Any:
    """The socket type of a JSON schema (``array`` of ``string`` -> ``list[str]``, ...).

    Example:
        >>> from socratic.types import type_name
        >>> type_name(schema_type({"type": "array", "items": {"type": "integer"}}))
        'list[int]'
        >>> type_name(schema_type({"type": ["string", "null"]}))
        'optional[str]'
    """
    import typing

    if not isinstance(schema, dict):
        return Any
    kind = schema.get("type")
    if "enum" in schema and kind is None:
        kinds = {type(v) for v in schema["enum"]}
        kind = "string" if kinds == {str} else None
    if isinstance(kind, list):
        rest = [k for k in kind if k != "null"]
        if len(rest) == 1:
            inner = schema_type({**schema, "type": rest[0]})
            return typing.Optional[inner] if len(rest) < len(kind) else inner  # noqa: UP045
        return Any
    if kind in _JSON_TYPES:
        return _JSON_TYPES[kind]
    if kind == "array":
        return list[schema_type(schema.get("items"))]  # type: ignore[misc]
    if kind == "object":
        return dict[str, Any]
    return Any


def _strict_ok(schema: Any) -> bool:
    """Whether OpenAI's strict mode accepts the schema: every object closed
    (``additionalProperties: false``) with all its properties required."""
    if isinstance(schema, list):
        return all(_strict_ok(s) for s in schema)
    if not isinstance(schema, dict):
        return True
    if schema.get("type") == "object" or "properties" in schema:
        props = schema.get("properties", {})
        if schema.get("additionalProperties") is not False or set(schema.get("required", [])) != set(props):
            return False
    return all(_strict_ok(v) for k, v in schema.items() if k in ("properties", "items", "anyOf", "$defs")
               for v in ([v] if k == "items" else v.values() if isinstance(v, dict) else v))


class JsonSchema(Parser):
    """JSON validated against a JSON schema (or a pydantic model), with typed field outputs.

    Example:
        >>> p = JsonSchema({"type": "object", "properties": {"label": {"enum": ["cat", "dog"]},
        ...                 "score": {"type": "number"}}, "required": ["label"]})
        >>> p.parse('Here: {"label": "cat", "score": 0.9}')
        {'label': 'cat', 'score': 0.9}
        >>> {k: type_name(t) for k, t in p.fields().items()}
        {'label': 'str', 'score': 'optional[float]'}
        >>> p.parse('{"label": "bird"}')  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        socratic.errors.ParseError: could not parse answer as json_schema: 1 schema error: label: 'bird' ...
    """

    name = "json_schema"

    def __init__(self, schema: Any, *, name: str | None = None, strict: bool | None = None) -> None:
        from pydantic import BaseModel

        self.model: Any = None
        if isinstance(schema, type) and issubclass(schema, BaseModel):
            self.model = schema
            self.schema = schema.model_json_schema()
            self.output_type = schema
        elif isinstance(schema, dict):
            from jsonschema import Draft202012Validator
            from jsonschema.exceptions import SchemaError

            try:
                Draft202012Validator.check_schema(schema)
            except SchemaError as exc:
                where = "/".join(str(p) for p in exc.path) or "the schema"
                raise GraphError(f"parse json_schema: not a valid JSON schema at {where}: {exc.message}"
                                 ) from None
            self.schema = schema
            self.output_type = schema_type(schema)
            self._validator = Draft202012Validator(schema)
        else:
            raise GraphError(f"parse json_schema: give a JSON schema (a mapping) or a pydantic model,"
                             f" not {type(schema).__name__}")
        title = name or str(self.schema.get("title") or "answer")
        self.schema_name = re.sub(r"[^A-Za-z0-9_-]", "_", title)[:64]
        self.strict = _strict_ok(self.schema) if strict is None else strict

    def spec(self) -> Any:
        return {"json_schema": self.schema}

    def request_schema(self) -> dict[str, Any]:
        """What an LLM request carries: ``{"name", "schema", "strict"}``."""
        return {"name": self.schema_name, "schema": self.schema, "strict": self.strict}

    def format_hint(self) -> str:
        return "JSON only, matching this JSON schema: " + json.dumps(self.schema, separators=(",", ":"))

    def fields(self) -> dict[str, Any]:
        import typing

        if self.model is not None:
            return {n: f.annotation for n, f in self.model.model_fields.items()}
        props = self.schema.get("properties")
        if self.schema.get("type") != "object" or not isinstance(props, dict):
            return {}
        required = set(self.schema.get("required", []))
        out = {}
        for key, sub in props.items():
            tp = schema_type(sub)
            out[key] = tp if key in required or tp is Any else typing.Optional[tp]  # noqa: UP045
        return out

    def field_values(self, value: Any) -> dict[str, Any]:
        if self.model is not None:
            return {n: getattr(value, n) for n in self.model.model_fields}
        if isinstance(value, dict):
            return {n: value.get(n) for n in self.fields()}
        return {}

    def parse(self, text: str, choices: list[str] | None = None) -> Any:
        problems: list[str] = []
        found = False
        for value in _json_values(text):
            found = True
            errors = self._errors(value)
            if not errors:
                return self.model.model_validate(value) if self.model is not None else value
            problems = problems or errors
        if not found:
            raise ParseError(self.name, text, "no JSON value found")
        count = f"{len(problems)} schema error{'s' if len(problems) != 1 else ''}"
        raise ParseError(self.name, text, f"{count}: " + "; ".join(problems[:10]))

    def _errors(self, value: Any) -> list[str]:
        if self.model is not None:
            from pydantic import ValidationError

            try:
                self.model.model_validate(value)
            except ValidationError as exc:
                return [f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors()]
            return []
        out = []
        for e in sorted(self._validator.iter_errors(value), key=lambda e: list(e.path)):
            where = ".".join(str(p) for p in e.path) or "(root)"
            out.append(f"{where}: {e.message}")
        return out


def _json_values(text: str) -> Any:
    """Every JSON value in the text that starts an object or array (then scalars), in order."""
    decoder = json.JSONDecoder()
    for starts in (r"[\[{]", r"[\"0-9tfn-]"):
        for m in re.finditer(starts, text):
            try:
                value, _ = decoder.raw_decode(text, m.start())
            except json.JSONDecodeError:
                continue
            yield value


_SIMPLE = {"text": Parser, "lines": Lines, "bullets": Bullets, "number": Number, "json": Json,
           "choice": Choice}


def make_parser(spec: Any) -> Parser:
    """Build a parser from its spec: a name, or a one-key mapping (``{json: list[str]}``)."""
    if spec is None:
        return Parser()
    if isinstance(spec, Parser):
        return spec
    if isinstance(spec, type):
        return JsonSchema(spec)
    if isinstance(spec, str):
        if spec in _SIMPLE:
            return _SIMPLE[spec]()
        if spec == "regex":
            raise GraphError("parse: regex needs a pattern, e.g. {regex: 'Answer: (.*)'}")
    elif isinstance(spec, dict) and len(spec) == 1:
        (kind, arg), = spec.items()
        if kind == "json":
            return Json(str(arg))
        if kind == "json_schema":
            return JsonSchema(arg)
        if kind == "regex":
            return Regex(str(arg))
        if kind == "choice":
            if not isinstance(arg, list) or not all(isinstance(x, str) for x in arg):
                raise GraphError("parse: choice needs a list of labels")
            return Choice(arg)
    known = ", ".join([*_SIMPLE, "regex", "json_schema"])
    raise GraphError(f"unknown parser {spec!r}; known: {known}")
