"""Read YAML safely while remembering where every key and value came from.

Example:
    >>> doc = load_yaml_text("a:\\n  b: 1\\n", "g.yaml")
    >>> doc.data
    {'a': {'b': 1}}
    >>> str(doc.value_location(("a", "b")))
    'g.yaml:2:6'
    >>> str(doc.key_location(("a", "b")))
    'g.yaml:2:3'
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .errors import GraphError, Location

Path = tuple[Any, ...]


@dataclass
class YamlDocument:
    """Parsed data plus the line/column of each key and value (1-based)."""

    data: Any
    file: str
    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)
    overridden: dict[Path, str] = field(default_factory=dict)

    def _loc(self, table: dict[Path, tuple[int, int]], path: Path) -> Location:
        path = tuple(path)
        for n in range(len(path), 0, -1):
            if path[:n] in self.overridden:
                return Location(f"--set {self.overridden[path[:n]]}")
        while path and path not in table:
            path = path[:-1]
        pos = table.get(path) or self.values.get(path)
        return Location(self.file, *pos) if pos else Location(self.file, 1, 1)

    def value_location(self, path: Path) -> Location:
        return self._loc(self.values, path)

    def key_location(self, path: Path) -> Location:
        return self._loc(self.keys, path) if tuple(path) in self.keys else self.value_location(path)


def load_yaml_text(text: str, file: str) -> YamlDocument:
    """Parse with ``yaml.SafeLoader`` (libyaml's when present; no Python objects); duplicate keys
    are errors."""
    import yaml

    try:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    except yaml.reader.ReaderError as exc:
        before = text[: exc.position]
        raise GraphError(f"YAML syntax: {exc.reason} (character #x{exc.character:04x})", file=file,
                         line=before.count("\n") + 1, col=len(before) - before.rfind("\n")) from None
    try:
        try:
            root = loader.get_single_node()
            data = loader.construct_document(root) if root is not None else None
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark else None
            col = mark.column + 1 if mark else None
            problem = exc.problem or exc.context or "invalid YAML"
            bad_line = text.splitlines()[mark.line] if mark and mark.line < len(text.splitlines()) else ""
            hint = ""
            if "${" in bad_line:
                hint = " (quote ${...} references inside [ ] or { }, e.g. \"${inputs.x}\")"
            elif re.search(r"\w\[", bad_line):
                hint = " (inside { } quote types with brackets, e.g. {type: \"list[str]\"})"
            raise GraphError(f"YAML syntax: {problem}{hint}", file=file, line=line, col=col) from None
        except yaml.reader.ReaderError as exc:
            before = text[: exc.position]
            raise GraphError(f"YAML syntax: {exc.reason} (character #x{exc.character:04x})",
                             file=file, line=before.count("\n") + 1,
                             col=len(before) - before.rfind("\n")) from None
        except yaml.YAMLError as exc:
            raise GraphError(f"YAML: {exc}", file=file, line=1, col=1) from None
    finally:
        loader.dispose()
    doc = YamlDocument(data, file)
    if root is not None:
        _walk(root, (), doc)
    return doc


def _walk(
    node: Any,
    path: Path,
    doc: YamlDocument,
    active: frozenset[int] = frozenset(),
    seen: set[int] | None = None,
) -> None:
    """Record positions; an aliased node is walked once (aliases nested in aliases would
    otherwise multiply the work: the "billion laughs" shape)."""
    import yaml

    seen = set() if seen is None else seen
    if id(node) in active:
        raise GraphError("YAML: an alias refers to a value that contains it (recursive data)",
                         file=doc.file, line=node.start_mark.line + 1, col=node.start_mark.column + 1)
    active = active | {id(node)}
    doc.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                raise GraphError(
                    f"duplicate key '{key}'",
                    file=doc.file,
                    line=key_node.start_mark.line + 1,
                    col=key_node.start_mark.column + 1,
                )
            seen.add(key)
            doc.keys[(*path, key)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            _walk(value_node, (*path, key), doc, active, seen)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), doc, active, seen)
