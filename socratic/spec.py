"""YAML <-> Graph: a validated schema, ``${...}`` references, line numbers in every error.

Loading collects every problem (schema, types, unknown names, references, cycles) and raises
one :class:`ValidationFailed` listing them all as ``FILE:LINE:COL: error: ...``. Nothing is
loaded or sent while validating: model entries are checked against their backend's config
schema, which imports no heavy library.

File layout::

    name: NAME
    description: TEXT
    prompts_dir: DIR            # optional: your templates, relative to this file
    inputs:
      image: image              # NAME: TYPE, or NAME: {type, default, description}
    models:
      llm: {backend: openai, model: gpt-4o-mini}
    nodes:
      NODE: {type: TYPE, model: MODEL, for_each: {SOCKET: REF}, OPTION: VALUE, SOCKET: REF|VALUE}
    outputs:
      NAME: ${NODE.SOCKET}

Example:
    >>> g = load_graph_text('''
    ... inputs: {text: str}
    ... nodes:
    ...   shout: {type: text.template, template: "{{ t | upper }}!", t: "${inputs.text}"}
    ... outputs: {out: "${shout.output}"}
    ... ''')
    >>> g.run(text="hi")
    {'out': 'HI!'}
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from .errors import GraphError, Location, ValidationFailed
from .graph import Graph, NodeEntry
from .models import ModelBackend, backend_class, backend_names
from .node import REQUIRED, Node
from .refs import INPUTS, Ref, has_embedded_ref, is_ref_text
from .types import coerce_value, parse_type, to_jsonable, type_name
from .yaml_source import YamlDocument, load_yaml_text

_NODE_KEYS = ("type", "model", "for_each", "description")


class InputSpec(BaseModel):
    """An input declared in full form."""

    model_config = ConfigDict(extra="forbid")
    type: str = "any"
    default: Any = None
    description: str = ""


class GraphSpec(BaseModel):
    """The top-level schema of a graph file."""

    model_config = ConfigDict(extra="forbid")
    name: str = "graph"
    description: str = ""
    prompts_dir: str | list[str] | None = None
    inputs: dict[str, str | InputSpec] = Field(default_factory=dict)
    models: dict[str, dict[str, Any]] = Field(default_factory=dict)
    nodes: dict[str, dict[str, Any]]
    outputs: dict[str, str] = Field(default_factory=dict)


# --------------------------------------------------------------------------- overrides


def apply_overrides(
    data: dict[str, Any], overrides: list[str], doc: YamlDocument | None = None
) -> dict[str, Any]:
    """Apply ``--set a.b.c=VALUE`` overrides (VALUE read as YAML) to the raw file data.
    Errors about an overridden value then point at the ``--set`` flag, not the file."""
    import yaml

    for item in overrides:
        path, sep, text = item.partition("=")
        if not sep or not path.strip():
            raise GraphError(f"--set {item!r}: expected PATH=VALUE", file="<--set>")
        keys = path.strip().split(".")
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError:
            value = text
        if isinstance(value, (list, dict)) and not text.lstrip().startswith(("[", "{")):
            value = text  # "-" or "a: b" meant as text, not YAML structure
        target: Any = data
        for i, key in enumerate(keys[:-1]):
            nxt = target.get(key) if isinstance(target, dict) else None
            if isinstance(target, dict) and isinstance(nxt, str) and keys[0] == "inputs":
                nxt = target[key] = {"type": nxt}  # NAME: TYPE -> full form
            if not isinstance(nxt, dict):
                where = ".".join(keys[: i + 1])
                raise GraphError(f"--set {path}: '{where}' is not a section of the file",
                                 file="<--set>")
            target = nxt
        target[keys[-1]] = value
        if doc is not None:
            doc.overridden[tuple(keys)] = path.strip()
    return data


# --------------------------------------------------------------------------- loading


class _Builder:
    def __init__(self, doc: YamlDocument, base_dir: str) -> None:
        self.doc = doc
        self.base_dir = base_dir
        self.errors: list[GraphError] = []
        self.failed_nodes: set[str] = set()
        self.bad_models: set[str] = set()
        self.reported: set[tuple[str, str]] = set()  # (node, socket) with an error already

    def err(self, message: str, path: tuple[Any, ...], *, key: bool = False) -> None:
        loc = self.doc.key_location(path) if key else self.doc.value_location(path)
        self.errors.append(GraphError(message, file=loc.file, line=loc.line, col=loc.col))

    def loc(self, path: tuple[Any, ...], *, key: bool = False) -> Location:
        return self.doc.key_location(path) if key else self.doc.value_location(path)

    # -- schema ------------------------------------------------------------------------
    def schema(self) -> GraphSpec | None:
        data = self.doc.data
        if not isinstance(data, dict):
            self.err("a graph file must be a mapping with 'nodes' (and inputs, models, outputs)", ())
            return None
        try:
            return GraphSpec.model_validate(data)
        except ValidationError as exc:
            for e in exc.errors():
                loc = tuple(e["loc"])
                # str | InputSpec unions add the branch name; drop it for the location
                clean = tuple(p for p in loc if p not in ("str", "InputSpec"))
                what = ".".join(str(p) for p in clean) or "file"
                msg = e["msg"]
                if e["type"] == "extra_forbidden":
                    msg = f"unknown key '{clean[-1]}'"
                    if len(clean) == 1:
                        msg += f" (top-level keys: {', '.join(GraphSpec.model_fields)})"
                    self.err(msg, clean, key=True)
                elif e["type"] == "missing":
                    self.err(f"missing required key '{clean[-1]}'", clean[:-1])
                else:
                    self.err(f"{what}: {msg}", clean)
            return None

    # -- parts ------------------------------------------------------------------------
    def inputs(self, graph: Graph, spec: GraphSpec) -> None:
        for name, raw in spec.inputs.items():
            full = raw if isinstance(raw, InputSpec) else InputSpec(type=raw)
            path = ("inputs", name) if isinstance(raw, str) else ("inputs", name, "type")
            try:
                tp = parse_type(full.type)
            except ValueError as exc:
                self.err(f"input '{name}': {exc}", path)
                continue
            has_default = isinstance(raw, InputSpec) and "default" in raw.model_fields_set
            default = full.default if has_default else REQUIRED
            if has_default and "image" in full.type.lower():
                default = _relative_to(default, self.base_dir)
            try:
                graph.add_input(name, tp, default=default, description=full.description)
            except TypeError as exc:
                self.err(str(exc), ("inputs", name, "default"))
                graph.add_input(name, tp, description=full.description)  # references stay valid
            graph.input_locations[name] = self.loc(("inputs", name), key=True)

    def models(self, graph: Graph, spec: GraphSpec) -> None:
        for name, entry in spec.models.items():
            path = ("models", name)
            backend = entry.get("backend")
            if not backend:
                self.err(f"model '{name}' needs 'backend' (one of: {', '.join(backend_names())})",
                         path, key=True)
                continue
            try:
                cls = backend_class(str(backend))
            except GraphError as exc:
                self.err(f"model '{name}': {exc.message}", (*path, "backend"))
                continue
            config = {k: v for k, v in entry.items() if k != "backend"}
            config = _resolve_paths(cls, config, self.base_dir)
            try:
                graph.models[name] = cls(**config)
            except ValidationError as exc:
                for e in exc.errors():
                    key = e["loc"][0] if e["loc"] else None
                    sub = (*path, key) if key is not None else path
                    if e["type"] == "extra_forbidden":
                        known = ", ".join(cls.Config.model_fields)
                        self.err(f"model '{name}' ({backend}): unknown option '{key}'; options: {known}",
                                 sub, key=True)
                    else:
                        self.err(f"model '{name}' ({backend}): {key}: {e['msg']}", sub)
            except (GraphError, ValueError, TypeError) as exc:
                self.err(f"model '{name}' ({backend}): {getattr(exc, 'message', exc)}", path, key=True)

    def node(self, graph: Graph, name: str, entry: dict[str, Any]) -> None:
        from .registry import node_class

        path = ("nodes", name)
        if name == INPUTS:
            self.err("'inputs' is reserved and cannot name a node", path, key=True)
            return
        if not isinstance(entry, dict) or "type" not in entry:
            self.err(f"node '{name}' needs a 'type'", path, key=True)
            self.failed_nodes.add(name)
            return
        try:
            cls = node_class(str(entry["type"]))
        except GraphError as exc:
            self.err(f"node '{name}': {exc.message}", (*path, "type"))
            self.failed_nodes.add(name)
            return
        options_t = cls.option_types()
        options: dict[str, Any] = {}
        sockets: dict[str, Any] = {}
        ok = True
        for key, value in entry.items():
            if key in ("type", "for_each", "description"):
                continue
            if key == "model" and "model" in options_t:
                model = self.model_for(graph, name, cls, value)
                if model is None:
                    ok = False
                else:
                    options["model"] = model
            elif key in options_t:
                if is_ref_text(value):
                    self.err(f"node '{name}': option '{key}' is configuration and cannot take a"
                             f" reference ({value})", (*path, key))
                    ok = False
                    continue
                value = _relative_to(value, self.base_dir)
                try:
                    options[key] = _validate_option(options_t[key], value)
                except ValidationError as exc:
                    self.err(f"node '{name}': option '{key}': {exc.errors()[0]['msg']}", (*path, key))
                    ok = False
            else:
                sockets[key] = value
        if "model" not in entry and getattr(cls, "model_kind", None) and _model_required(cls):
            self.err(f"node '{name}' ({cls.type_name}) needs 'model:' naming an entry of 'models'",
                     path, key=True)
            ok = False
        if not ok:
            self.failed_nodes.add(name)
            return
        try:
            node = cls(**options)
        except (GraphError, ValueError, TypeError) as exc:
            self.err(f"node '{name}' ({cls.type_name}): {getattr(exc, 'message', exc)}", path, key=True)
            self.failed_nodes.add(name)
            return
        self.add(graph, name, node, entry, sockets, options_t)

    def model_for(self, graph: Graph, name: str, cls: type[Node], value: Any) -> Any:
        path = ("nodes", name, "model")
        if not isinstance(value, str) or value not in graph.models:
            from difflib import get_close_matches

            if isinstance(value, str) and value in self.bad_models:
                return None
            close = get_close_matches(str(value), list(graph.models), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            known = ", ".join(graph.models) or "none declared"
            self.err(f"node '{name}': model '{value}' is not in 'models'{hint}; models: {known}", path)
            return None
        model = graph.models[value]
        want = getattr(cls, "model_kind", None)
        if want and getattr(model, "kind", None) != want:
            self.err(
                f"node '{name}' ({cls.type_name}) needs a {want} model, but '{value}' is a"
                f" {model.kind} ({model.backend}); {want} backends: {', '.join(backend_names(want))}",
                path,
            )
            return None
        return model

    def add(
        self, graph: Graph, name: str, node: Node, entry: dict[str, Any],
        sockets: dict[str, Any], options_t: dict[str, Any],
    ) -> None:
        path = ("nodes", name)
        e: NodeEntry = graph._add_entry(name, node)
        e.locations[""] = self.loc(path, key=True)
        for_each = entry.get("for_each") or {}
        if not isinstance(for_each, dict):
            self.err(f"node '{name}': for_each must map input names to references", (*path, "for_each"))
            for_each = {}
        for socket, value in for_each.items():
            if not isinstance(socket, str):
                self.err(f"node '{name}': for_each keys must be input names, got {socket!r}",
                         (*path, "for_each", socket), key=True)
                continue
            e.locations[f"for_each.{socket}"] = self.loc((*path, "for_each", socket))
            if not is_ref_text(value):
                self.err(f"node '{name}': for_each.{socket} must be a reference like"
                         f" \"${{inputs.NAME}}\", got {value!r}", (*path, "for_each", socket))
                continue
            e.for_each[socket] = Ref.parse(value)
        for socket, value in sockets.items():
            e.locations[socket] = self.loc((*path, socket))
            if socket not in e.inputs:
                known_opts = ", ".join(o for o in options_t if o != "self") or "none"
                known_in = ", ".join(e.inputs) or "none"
                from difflib import get_close_matches

                close = get_close_matches(socket, [*e.inputs, *options_t, *_NODE_KEYS], n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                self.err(f"node '{name}' ({node.type_name}) has no input or option '{socket}'{hint};"
                         f" inputs: {known_in}; options: {known_opts}", (*path, socket), key=True)
                continue
            if is_ref_text(value):
                e.bindings[socket] = Ref.parse(value)
            elif has_embedded_ref(value):
                self.reported.add((name, socket))
                self.err(f"node '{name}': '{socket}' mixes text and a reference ({value!r}); "
                         "bind the whole value to one ${...} or build text with text.template",
                         (*path, socket))
            else:
                try:
                    e.constants[socket] = coerce_value(
                        value, e.inputs[socket].type, what=f"'{name}.{socket}'")
                except TypeError as exc:
                    self.reported.add((name, socket))
                    self.err(str(exc), (*path, socket))

    def outputs(self, graph: Graph, spec: GraphSpec) -> None:
        for name, value in spec.outputs.items():
            path = ("outputs", name)
            graph.output_locations[name] = self.loc(path)
            if not is_ref_text(value):
                self.err(f"output '{name}' must be a reference like ${{NODE.SOCKET}}, got {value!r}", path)
                continue
            graph.outputs[name] = Ref.parse(value)

    def build(self) -> Graph:
        spec = self.schema()
        if spec is None:
            raise ValidationFailed(self.errors)
        graph = Graph(spec.name, description=spec.description, file=self.doc.file)
        dirs = spec.prompts_dir
        dirs = [dirs] if isinstance(dirs, str) else list(dirs or [])
        graph.prompt_dirs = [str(Path(self.base_dir, d)) for d in dirs]
        self.inputs(graph, spec)
        before = set(spec.models)
        self.models(graph, spec)
        self.bad_models = before - set(graph.models)
        from .nodes.llm import set_prompt_dirs

        old = set_prompt_dirs(graph.prompt_dirs)
        try:
            for name, entry in spec.nodes.items():
                self.node(graph, name, entry)
        finally:
            set_prompt_dirs(old)
        self.outputs(graph, spec)
        for problem in graph.validate():
            if any(f"no node named '{n}'" in problem.message for n in self.failed_nodes):
                continue  # already reported where that node failed
            if any(problem.message.startswith(f"node '{n}': required input '{s}' ")
                   for n, s in self.reported):
                continue  # its bad binding was reported
            self.errors.append(problem)
        if self.errors:
            self.errors.sort(key=lambda e: (e.location.line or 0, e.location.col or 0))
            raise ValidationFailed(self.errors)
        return graph


def _model_required(cls: type[Node]) -> bool:
    import inspect

    init = getattr(cls.__init__, "__wrapped__", cls.__init__)
    p = inspect.signature(init).parameters.get("model")
    return p is not None and p.default is inspect.Parameter.empty


def _validate_option(tp: Any, value: Any) -> Any:
    if tp is Any:
        return value
    return TypeAdapter(tp).validate_python(value)


def _relative_to(value: Any, base_dir: str) -> Any:
    """Paths written ``./x`` or ``../x`` in a graph file are relative to that file."""
    if isinstance(value, str) and value.startswith(("./", "../")):
        return os.path.normpath(os.path.join(base_dir, value))
    if isinstance(value, list):
        return [_relative_to(v, base_dir) for v in value]
    return value


def _resolve_paths(cls: type[ModelBackend], config: dict[str, Any], base_dir: str) -> dict:
    """Make ``./`` and ``../`` paths in a model config relative to the graph file."""
    return {k: _relative_to(v, base_dir) for k, v in config.items()}


def load_graph_text(
    text: str, file: str = "<string>", *, base_dir: str = ".", overrides: list[str] | None = None
) -> Graph:
    """Build a validated graph from YAML text (see the module docstring)."""
    try:
        doc = load_yaml_text(text, file)
    except GraphError as exc:  # YAML syntax, duplicate keys
        raise ValidationFailed([exc]) from None
    if overrides:
        if not isinstance(doc.data, dict):
            raise ValidationFailed([GraphError("cannot apply --set: file is not a mapping", file=file)])
        try:
            apply_overrides(doc.data, overrides, doc)
        except GraphError as exc:
            raise ValidationFailed([exc]) from None
    return _Builder(doc, base_dir).build()


def load_graph(path: str | os.PathLike[str], *, overrides: list[str] | None = None) -> Graph:
    """Load, validate and return the graph in a YAML file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValidationFailed([GraphError(f"cannot read graph file: {exc.strerror}", file=str(p))]) from None
    return load_graph_text(text, str(p), base_dir=str(p.parent), overrides=overrides)


# --------------------------------------------------------------------------- dumping


def graph_to_dict(graph: Graph) -> dict[str, Any]:
    """A plain-data form of the graph that :func:`load_graph_text` reads back."""
    names: dict[int, str] = {id(m): n for n, m in graph.models.items()}
    models: dict[str, Any] = {n: m.to_spec() for n, m in graph.models.items()}

    def model_name(m: Any) -> str:
        if id(m) not in names:
            base = getattr(m, "kind", "model") or "model"
            n, i = base, 1
            while n in models:
                i += 1
                n = f"{base}{i}"
            names[id(m)] = n
            models[n] = m.to_spec()
        return names[id(m)]

    inputs: dict[str, Any] = {}
    for name, spec in graph.inputs.items():
        if spec.required and not spec.description:
            inputs[name] = type_name(spec.type)
        else:
            d: dict[str, Any] = {"type": type_name(spec.type)}
            if not spec.required:
                d["default"] = to_jsonable(spec.default)
            if spec.description:
                d["description"] = spec.description
            inputs[name] = d
    nodes: dict[str, Any] = {}
    for name, e in graph.nodes.items():
        if not e.node.type_name:
            raise GraphError(f"node '{name}' ({type(e.node).__name__}) has no registered type name")
        d = {"type": e.node.type_name}
        for k, v in e.node.params().items():
            if k == "prompt_dirs":
                continue
            d[k] = model_name(v) if isinstance(v, ModelBackend) else to_jsonable(v)
        if e.for_each:
            d["for_each"] = {s: str(r) for s, r in e.for_each.items()}
        for s, r in e.bindings.items():
            d[s] = str(r)
        for s, v in e.constants.items():
            d[s] = to_jsonable(v)
        nodes[name] = d
    out: dict[str, Any] = {"name": graph.name}
    if graph.description:
        out["description"] = graph.description
    if inputs:
        out["inputs"] = inputs
    if models:
        out["models"] = models
    out["nodes"] = nodes
    out["outputs"] = {n: str(r) for n, r in graph.outputs.items()}
    return out


def graph_to_yaml(graph: Graph) -> str:
    import yaml

    return yaml.safe_dump(graph_to_dict(graph), sort_keys=False, allow_unicode=True, width=100)

