"""The one config language: YAML read safely with the position of every key and value, ``--set``
overrides, paths relative to the file, and schema errors located at ``FILE:LINE:COL``.

Graph files (:mod:`socratic.spec`) and training configs (:mod:`socratic.adapters.config`) are
both read here, so they share every rule:

- ``yaml.safe_load`` semantics (libyaml's safe loader when present); duplicate keys are errors;
  a document whose aliases expand to more than :data:`MAX_ELEMENTS` values is refused at once.
- ``--set a.b.c=VALUE``: VALUE is read as YAML (``[...]`` and ``{...}`` give lists and mappings;
  any other text that YAML would read as structure stays text); missing sections are created;
  problems with an overridden value point at the ``--set`` flag.
- A string value that starts with ``./`` or ``../`` (also after ``local-dir:``) is a path relative
  to the file's folder; values given with ``--set`` are relative to the current directory.
- Schema problems (pydantic) become one located error each, with "did you mean" for unknown keys.

Example:
    >>> doc = load_yaml_text("a:\\n  b: 1\\n", "g.yaml")
    >>> doc.data
    {'a': {'b': 1}}
    >>> str(doc.value_location(("a", "b")))
    'g.yaml:2:6'
    >>> str(doc.key_location(("a", "b")))
    'g.yaml:2:3'
    >>> apply_overrides(doc, ["a.c=[1, 2]"]).data
    {'a': {'b': 1, 'c': [1, 2]}}
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import GraphError, Location, ValidationFailed, did_you_mean, shorten

YamlPath = tuple[Any, ...]

#: most values (counted with every alias expanded) one YAML document may hold
MAX_ELEMENTS = 100_000


@dataclass
class YamlDocument:
    """Parsed data plus the line/column of each key and value (1-based)."""

    data: Any
    file: str
    values: dict[YamlPath, tuple[int, int]] = field(default_factory=dict)
    keys: dict[YamlPath, tuple[int, int]] = field(default_factory=dict)
    overridden: dict[YamlPath, str] = field(default_factory=dict)
    #: the folder relative paths are relative to (default: the file's folder)
    base: str | None = None

    @property
    def base_dir(self) -> str:
        if self.base is not None:
            return self.base
        if self.file.startswith("<"):
            return "."
        return os.path.dirname(self.file) or "."

    def _loc(self, table: dict[YamlPath, tuple[int, int]], path: YamlPath) -> Location:
        path = tuple(path)
        for n in range(len(path), 0, -1):
            if path[:n] in self.overridden:
                return Location(f"--set {self.overridden[path[:n]]}")
        while path and path not in table:
            path = path[:-1]
        pos = table.get(path) or self.values.get(path)
        return Location(self.file, *pos) if pos else Location(self.file, 1, 1)

    def value_location(self, path: YamlPath) -> Location:
        return self._loc(self.values, path)

    def key_location(self, path: YamlPath) -> Location:
        return self._loc(self.keys, path) if tuple(path) in self.keys else self.value_location(path)

    def error(self, message: str, path: YamlPath, *, key: bool = False, **structure: Any) -> GraphError:
        """A :class:`GraphError` located at the key (``key=True``) or value at ``path``."""
        loc = self.key_location(path) if key else self.value_location(path)
        return GraphError(message, file=loc.file, line=loc.line, col=loc.col, **structure)

    def is_overridden(self, path: YamlPath) -> bool:
        return any(tuple(path)[:n] in self.overridden for n in range(1, len(path) + 1))


# --------------------------------------------------------------------------- reading


def _syntax_error(text: str, file: str, exc: Any) -> GraphError:
    import yaml

    if isinstance(exc, yaml.reader.ReaderError):
        before = text[: exc.position]
        return GraphError(f"YAML syntax: {exc.reason} (character #x{exc.character:04x})", file=file,
                          line=before.count("\n") + 1, col=len(before) - before.rfind("\n"))
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        lines = text.splitlines()
        bad_line = lines[mark.line] if mark and mark.line < len(lines) else ""
        hint = ""
        if "${" in bad_line:
            hint = " (quote ${...} references inside [ ] or { }, e.g. \"${inputs.x}\")"
        elif re.search(r"\w\[", bad_line):
            hint = " (inside { } quote types with brackets, e.g. {type: \"list[str]\"})"
        return GraphError(f"YAML syntax: {exc.problem or exc.context or 'invalid YAML'}{hint}",
                          file=file, line=mark.line + 1 if mark else None,
                          col=mark.column + 1 if mark else None)
    return GraphError(f"YAML: {exc}", file=file, line=1, col=1)


def load_yaml_text(text: str, file: str, *, max_elements: int = MAX_ELEMENTS) -> YamlDocument:
    """Parse with ``yaml.SafeLoader`` (libyaml's when present; no Python objects); duplicate keys,
    recursive aliases and documents expanding past ``max_elements`` values are errors."""
    import yaml

    try:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    except yaml.YAMLError as exc:
        raise _syntax_error(text, file, exc) from None
    try:
        root = loader.get_single_node()
        doc = YamlDocument(None, file)
        if root is not None:
            _walk(root, (), doc, frozenset(), {}, max_elements)
            doc.data = loader.construct_document(root)
    except yaml.YAMLError as exc:
        raise _syntax_error(text, file, exc) from None
    finally:
        loader.dispose()
    return doc


def load_yaml_file(path: str | os.PathLike[str]) -> YamlDocument:
    """Read a YAML file; problems raise :class:`ValidationFailed`."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValidationFailed([GraphError("file not found", file=str(p))]) from None
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else f"not UTF-8 text ({exc.reason})"
        raise ValidationFailed([GraphError(f"cannot read file: {why}", file=str(p))]) from None
    try:
        return load_yaml_text(text, str(p))
    except GraphError as exc:
        raise ValidationFailed([exc]) from None


def _walk(node: Any, path: YamlPath, doc: YamlDocument, active: frozenset[int],
          sizes: dict[int, int], budget: int) -> int:
    """Record positions (an aliased node is walked once: no "billion laughs" blow-up) and return
    the node's size with aliases expanded, refusing documents larger than ``budget``."""
    import yaml

    if id(node) in active:
        raise GraphError("YAML: an alias refers to a value that contains it (recursive data)",
                         file=doc.file, line=node.start_mark.line + 1, col=node.start_mark.column + 1)
    doc.values.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
    if id(node) in sizes:
        return sizes[id(node)]
    active = active | {id(node)}
    size = 1
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise GraphError("a mapping key must be plain text or a number, not a list or mapping",
                                 file=doc.file, line=key_node.start_mark.line + 1,
                                 col=key_node.start_mark.column + 1)
            key = key_node.value
            if key in seen:
                raise GraphError(f"duplicate key '{shorten(key, 80)}'", file=doc.file,
                                 line=key_node.start_mark.line + 1, col=key_node.start_mark.column + 1)
            seen.add(key)
            doc.keys.setdefault((*path, key), (key_node.start_mark.line + 1, key_node.start_mark.column + 1))
            size += 1 + _walk(value_node, (*path, key), doc, active, sizes, budget)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            size += _walk(item, (*path, i), doc, active, sizes, budget)
    sizes[id(node)] = size
    if size > budget:
        raise GraphError(
            f"YAML: this value expands to more than {budget:,} elements (through aliases); the limit"
            " keeps validation fast: put large data in a data file", file=doc.file,
            line=node.start_mark.line + 1, col=node.start_mark.column + 1)
    return size


# --------------------------------------------------------------------------- overrides


def parse_override_value(text: str) -> Any:
    """A ``--set`` value: YAML, but only ``[...]`` / ``{...}`` make lists and mappings.

    Example:
        >>> parse_override_value("3"), parse_override_value("a: b"), parse_override_value("[1]")
        (3, 'a: b', [1])
    """
    if not text.strip():
        return ""
    try:
        value = load_yaml_text(text, "<--set>").data
    except GraphError as exc:
        if "expands to more than" in exc.message:
            raise
        return text
    if isinstance(value, (list, dict)) and not text.lstrip().startswith(("[", "{")):
        return text  # "-" or "a: b" meant as text, not YAML structure
    return value


def apply_overrides(
    doc: YamlDocument,
    overrides: list[str],
    *,
    expand: Callable[[YamlPath, Any], Any] | None = None,
) -> YamlDocument:
    """Apply ``--set PATH=VALUE`` items to ``doc.data`` (see the module docstring). ``expand``
    may turn a scalar on the way into a mapping (a graph's ``NAME: TYPE`` input short form)."""
    for item in overrides:
        path, sep, text = item.partition("=")
        if not sep or not path.strip():
            raise GraphError(f"--set {shorten(item, 80)!r}: expected PATH=VALUE", file="<--set>")
        if doc.data is None:
            doc.data = {}
        if not isinstance(doc.data, dict):
            raise GraphError("cannot apply --set: the file is not a mapping", file=doc.file)
        keys = path.strip().split(".")
        target: Any = doc.data
        for i, key in enumerate(keys[:-1]):
            nxt = target.get(key) if isinstance(target, dict) else None
            if nxt is None and isinstance(target, dict):
                nxt = target[key] = {}
                doc.overridden[tuple(keys[: i + 1])] = path.strip()
            elif not isinstance(nxt, dict) and expand is not None:
                nxt = expand(tuple(keys[: i + 1]), nxt)
                if isinstance(nxt, dict):
                    target[key] = nxt
            if not isinstance(nxt, dict):
                where = ".".join(keys[: i + 1])
                raise GraphError(f"--set {path}: '{where}' is not a section of the file", file="<--set>")
            target = nxt
        target[keys[-1]] = parse_override_value(text)
        doc.overridden[tuple(keys)] = path.strip()
    return doc


# --------------------------------------------------------------------------- paths


def relative_to(value: Any, base_dir: str) -> Any:
    """A ``./x`` or ``../x`` path (also ``local-dir:./x``) made relative to ``base_dir``.

    Example:
        >>> relative_to("./a.json", "cfg"), relative_to("local-dir:../m", "cfg/x"), relative_to("a", "cfg")
        ('cfg/a.json', 'local-dir:cfg/m', 'a')
    """
    if isinstance(value, str):
        prefix = "local-dir:" if value.startswith("local-dir:") else ""
        rest = value[len(prefix):]
        if rest.startswith(("./", "../")):
            return prefix + os.path.normpath(os.path.join(base_dir, rest))
    return value


def rebase_paths(doc: YamlDocument, value: Any, path: YamlPath = ()) -> Any:
    """Every ``./`` path in ``value`` (found at ``path`` of the document) made relative to the
    file, except values given with ``--set`` (relative to the current directory)."""
    if doc.is_overridden(path):
        return value
    if isinstance(value, dict):
        return {k: rebase_paths(doc, v, (*path, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [rebase_paths(doc, v, (*path, i)) for i, v in enumerate(value)]
    return relative_to(value, doc.base_dir)


# --------------------------------------------------------------------------- schema errors


def _unwrap(tp: Any) -> list[Any]:
    """The classes a field annotation may hold (Optional / Union / Annotated / containers)."""
    import typing

    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(tp)[0])
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return [c for a in typing.get_args(tp) for c in _unwrap(a)]
    return [tp]


def _fields_at(model: Any, loc: YamlPath) -> list[str]:
    """Field names of the pydantic model reached by following ``loc`` from ``model``."""
    import typing

    from pydantic import BaseModel

    current: list[Any] = [model]
    for part in loc:
        nxt: list[Any] = []
        for cls in current:
            if isinstance(cls, type) and issubclass(cls, BaseModel) and part in cls.model_fields:
                nxt += _unwrap(cls.model_fields[part].annotation)
            elif typing.get_origin(cls) in (dict, list) and typing.get_args(cls):
                nxt += _unwrap(typing.get_args(cls)[-1])
        current = nxt or current
    names: list[str] = []
    for cls in current:
        if isinstance(cls, type) and issubclass(cls, BaseModel):
            for sub in (cls, *cls.__subclasses__()):  # a base class stands for its kinds
                names += [n for n in sub.model_fields if n not in names]
    return names


def _data_path(data: Any, loc: tuple[Any, ...], *, extra: bool) -> YamlPath:
    """The parts of a pydantic error location that are keys or indexes of the data (pydantic
    adds the names of union branches and validators in between)."""
    path: list[Any] = []
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        in_dict = isinstance(data, dict) and part in data
        in_list = isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)
        if in_dict or in_list:
            path.append(part)
            data = data[part]
        elif last and not extra and isinstance(data, dict) and isinstance(part, str):
            path.append(part)  # a missing key
    return tuple(path)


def schema_problems(exc: Any, doc: YamlDocument, *, model: Any = None, root: YamlPath = (),
                    prefix: str = "") -> list[GraphError]:
    """One located :class:`GraphError` per pydantic problem of the value at ``root``.

    ``model`` (the pydantic class validated) gives "did you mean" hints for unknown keys;
    ``prefix`` starts each message (e.g. ``"model 'llm' (openai): "``).
    """
    problems = []
    data = doc.data
    for part in root:
        data = data.get(part) if isinstance(data, dict) else data[part] if isinstance(data, list) else None
    for e in exc.errors():
        loc = _data_path(data, e["loc"], extra=e["type"] == "extra_forbidden")
        where = ".".join(str(p) for p in loc)
        msg = str(e["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if e["type"] == "extra_forbidden":
            known = _fields_at(model, loc[:-1]) if model is not None else []
            hint = did_you_mean(loc[-1], known) or (f"; known keys: {', '.join(known)}" if known else "")
            problems.append(doc.error(f"{prefix}unknown key '{shorten(where, 120)}'{hint}",
                                      (*root, *loc), key=True, kind="schema"))
        elif e["type"] == "missing":
            problems.append(doc.error(f"{prefix}missing required key '{where}'", (*root, *loc[:-1]),
                                      key=bool(loc[:-1]), kind="schema"))
        else:
            what = f"{where}: " if where else ""
            problems.append(doc.error(f"{prefix}{what}{msg}", (*root, *loc), kind="schema"))
    return problems


def validate_model(doc: YamlDocument, model: Any, data: Any = None, *, root: YamlPath = (),
                   prefix: str = "") -> tuple[Any, list[GraphError]]:
    """Validate ``data`` (default: the document's data at ``root``) against the pydantic class
    ``model``; returns ``(instance or None, located problems)``."""
    from pydantic import ValidationError

    if data is None:
        data = doc.data
        for part in root:
            data = data[part]
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        return None, schema_problems(exc, doc, model=model, root=root, prefix=prefix)
