"""YAML <-> Graph: a validated schema, ``${...}`` references, line numbers in every error.

Loading collects every problem (schema, options, models, types, unknown names, references,
cycles) in one pass and raises one :class:`ValidationFailed` listing them all as
``FILE:LINE:COL: error: ...``. Nothing is loaded or sent while validating: model entries are
checked against their backend's config schema, which imports no heavy library. The file is read
by :mod:`socratic.yaml_source` (the config language graphs share with training configs).

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

A socket value may be a reference, a constant, or a list / mapping with references inside
(``items: ["${a.output}", "fixed"]``); see :mod:`socratic.refs` for the one ``${`` rule.

Example:
    >>> g = load_graph_text('''
    ... inputs: {text: str}
    ... nodes:
    ...   shout: {type: text.template, template: "{{ t | upper }}!", t: "${inputs.text}"}
    ...   both: {type: text.join, separator: " / ", items: ["${shout.output}", "${inputs.text}"]}
    ... outputs: {out: "${both.output}"}
    ... ''')
    >>> g.run(text="hi")
    {'out': 'HI! / hi'}
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from .context import BuildContext
from .errors import GraphError, ValidationFailed, did_you_mean, shorten
from .graph import Graph
from .models import ModelBackend, backend_class, backend_names
from .node import REQUIRED, Node
from .refs import INPUTS, Pack, Ref, embedded_refs, escape, is_ref_text, read_value, unescape
from .types import coerce_value, parse_type, path_text, to_jsonable, type_name
from .yaml_source import (
    YamlDocument,
    YamlPath,
    apply_overrides,
    load_yaml_text,
    rebase_paths,
    relative_to,
    schema_problems,
    validate_model,
)

_NODE_KEYS = ("type", "model", "for_each", "description")


class InputSpec(BaseModel):
    """An input declared in full form."""

    model_config = ConfigDict(extra="forbid", defer_build=True)
    type: str = "any"
    default: Any = None
    description: str = ""


class GraphSpec(BaseModel):
    """The top-level schema of a graph file (sections are checked entry by entry)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)
    name: str = "graph"
    description: str = ""
    prompts_dir: str | list[str] | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    models: dict[str, Any] = Field(default_factory=dict)
    nodes: dict[str, Any]
    outputs: dict[str, Any] = Field(default_factory=dict)
    #: read by ``socratic tune`` (:mod:`socratic.tune.config`); a graph runs without it
    tune: dict[str, Any] | None = None


def _expand_input(path: YamlPath, value: Any) -> Any:
    """``--set inputs.NAME.default=...`` on a ``NAME: TYPE`` short form: the full form."""
    return {"type": value} if len(path) == 2 and path[0] == "inputs" and isinstance(value, str) else value


def _rebase_images(value: Any, tp: Any, base_dir: str) -> Any:
    """``./`` paths in a value bound for an image-typed socket are relative to the file."""
    if "image" not in type_name(tp):
        return value
    if isinstance(value, list):
        return [relative_to(v, base_dir) for v in value]
    return relative_to(value, base_dir)


class _Placeholder(ModelBackend):
    """Stands in for a model whose entry has errors, so the nodes naming it are still checked."""

    def __init__(self, kind: str, backend: str) -> None:
        super().__init__()
        self.kind, self.backend = kind, backend  # type: ignore[misc]


class _Builder:
    def __init__(self, doc: YamlDocument, context: BuildContext) -> None:
        self.doc = doc
        self.context = context
        self.errors: list[GraphError] = []
        self.failed_nodes: set[str] = set()
        self.bad_models: set[str] = set()
        self.reported: set[tuple[str, str]] = set()  # (node, socket) with an error already

    def err(self, message: str, path: YamlPath, *, key: bool = False, **structure: Any) -> None:
        self.errors.append(self.doc.error(message, path, key=key, **structure))

    # -- schema ------------------------------------------------------------------------
    def schema(self) -> GraphSpec:
        data = self.doc.data
        if not isinstance(data, dict):
            self.err("a graph file must be a mapping with 'nodes' (and inputs, models, outputs)", ())
            raise ValidationFailed(self.errors)
        spec, problems = validate_model(self.doc, GraphSpec, data)
        if spec is not None:
            return spec
        self.errors += problems  # go on with the sections that are fine
        fields = GraphSpec.model_fields
        ok = {k: v for k, v in data.items() if k in fields and _fits(fields[k].annotation, v)}
        return GraphSpec.model_validate({"nodes": {}, **ok})

    def no_refs(self, value: Any, path: YamlPath, what: str) -> bool:
        """Configuration and declarations take no references: report each ``${`` found."""
        found = list(embedded_refs(value))
        for sub, text in found:
            self.err(f"{what} is configuration and cannot take a reference ({shorten(text, 80)});"
                     " references go in node inputs and outputs (write $${ for a literal ${)",
                     (*path, *sub))
        return not found

    # -- parts ------------------------------------------------------------------------
    def inputs(self, graph: Graph, spec: GraphSpec) -> None:
        for name, raw in spec.inputs.items():
            path = ("inputs", name)
            if isinstance(raw, str):
                full, has_default = InputSpec(type=raw), False
            else:
                full, problems = validate_model(self.doc, InputSpec, raw if raw is not None else {},
                                                root=path, prefix=f"input '{name}': ")
                if full is None:
                    self.errors += problems
                    graph.add_input(name)  # references to it stay valid
                    continue
                has_default = "default" in full.model_fields_set
            try:
                tp = parse_type(full.type)
            except ValueError as exc:
                self.err(f"input '{name}': {exc}", path if isinstance(raw, str) else (*path, "type"))
                graph.add_input(name)
                continue
            default = REQUIRED
            if has_default:
                if not self.no_refs(full.default, (*path, "default"), f"the default of input '{name}'"):
                    graph.add_input(name, tp)
                    continue
                default = _rebase_images(_unescaped(full.default), tp, self.doc.base_dir)
            try:
                graph.add_input(name, tp, default=default, description=full.description)
            except TypeError as exc:
                self.err(str(exc), (*path, "default"))
                graph.add_input(name, tp, description=full.description)
            graph.input_locations[name] = self.doc.key_location(path)

    def models(self, graph: Graph, spec: GraphSpec) -> None:
        for name, entry in spec.models.items():
            path = ("models", name)
            if not isinstance(entry, dict) or not entry.get("backend"):
                self.err(f"model '{name}' needs 'backend' (one of: {', '.join(backend_names())})",
                         path, key=True)
                self.bad_models.add(name)
                continue
            backend = str(entry["backend"])
            try:
                cls = backend_class(backend)
            except GraphError as exc:
                self.err(f"model '{name}': {exc.message}", (*path, "backend"))
                self.bad_models.add(name)
                continue
            config = {k: v for k, v in entry.items() if k != "backend"}
            if not self.no_refs(config, path, f"model '{name}'"):
                graph.models[name] = _Placeholder(cls.kind, backend)
                continue
            config = rebase_paths(self.doc, config, path)
            try:
                graph.models[name] = cls(**config).bind(self.context)
            except ValidationError as exc:
                self.errors += schema_problems(exc, self.doc, model=cls.Config, root=path,
                                               prefix=f"model '{name}' ({backend}): ")
                graph.models[name] = _Placeholder(cls.kind, backend)
            except (GraphError, ValueError, TypeError) as exc:
                self.err(f"model '{name}' ({backend}): {getattr(exc, 'message', exc)}", path, key=True)
                graph.models[name] = _Placeholder(cls.kind, backend)

    def node(self, graph: Graph, name: str, entry: Any) -> None:
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
        options: dict[str, Any] = {opt: self.context.value(opt) for opt in cls.context_options}
        sockets: dict[str, Any] = {}
        ok = True
        for key, value in entry.items():
            if key in ("type", "for_each", "description"):
                continue
            if key == "model" and "model" in options_t:
                model = self.model_for(graph, name, cls, value)
                ok = ok and model is not None
                options["model"] = model
            elif key in cls.context_options:
                self.err(f"node '{name}': option '{key}' comes from the graph (prompts_dir), not"
                         " from a node", (*path, key), key=True)
                ok = False
            elif key in options_t:
                if not self.no_refs(value, (*path, key), f"node '{name}': option '{key}'"):
                    ok = False
                    continue
                value = _unescaped(rebase_paths(self.doc, value, (*path, key)))
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
            if not any(isinstance(m, _Placeholder) for m in options.values()):
                self.err(f"node '{name}' ({cls.type_name}): {getattr(exc, 'message', exc)}", path, key=True)
            self.failed_nodes.add(name)
            return
        self.add(graph, name, node, entry, sockets, options_t)

    def model_for(self, graph: Graph, name: str, cls: type[Node], value: Any) -> Any:
        path = ("nodes", name, "model")
        if not isinstance(value, str) or value not in graph.models:
            if isinstance(value, str) and value in self.bad_models:  # reported; check the rest
                return _Placeholder(getattr(cls, "model_kind", None) or "", "unknown")
            hint = did_you_mean(value, graph.models)
            known = ", ".join(graph.models) or "none declared"
            self.err(f"node '{name}': model '{shorten(value, 80)}' is not in 'models'{hint};"
                     f" models: {known}", path)
            return None
        model = graph.models[value]
        want = getattr(cls, "model_kind", None)
        if want and not model.serves(want):
            self.err(
                f"node '{name}' ({cls.type_name}) needs a {want} model, but '{value}' is a"
                f" {model.kind} ({model.backend}); {want} backends: {', '.join(backend_names(want))}",
                path,
            )
            return None
        return model

    def add(self, graph: Graph, name: str, node: Node, entry: dict[str, Any],
            sockets: dict[str, Any], options_t: dict[str, Any]) -> None:
        path = ("nodes", name)
        e = graph.add_node(name, node)
        e.locations[""] = self.doc.key_location(path)
        for_each = entry.get("for_each") or {}
        if not isinstance(for_each, dict):
            self.err(f"node '{name}': for_each must map input names to references", (*path, "for_each"))
            for_each = {}
        for socket, value in for_each.items():
            if not isinstance(socket, str):
                self.err(f"node '{name}': for_each keys must be input names, got {shorten(socket, 80)!r}",
                         (*path, "for_each", socket), key=True)
                continue
            e.locations[f"for_each.{socket}"] = self.doc.value_location((*path, "for_each", socket))
            if not is_ref_text(value):
                self.err(f"node '{name}': for_each.{socket} must be one reference like"
                         f" \"${{inputs.NAME}}\", got {shorten(value, 80)!r}", (*path, "for_each", socket))
                continue
            e.for_each[socket] = Ref.parse(value)
        for socket, value in sockets.items():
            spath = (*path, socket)
            if not isinstance(socket, str):
                self.err(f"node '{name}': keys must be names, got {shorten(socket, 80)!r}", spath, key=True)
                continue
            e.locations[socket] = self.doc.value_location(spath)
            if socket not in e.inputs:
                known_opts = ", ".join(o for o in options_t if o not in ("self", *node.context_options))
                known_in = ", ".join(e.inputs) or "none"
                hint = did_you_mean(socket, [*e.inputs, *options_t, *_NODE_KEYS])
                self.err(f"node '{name}' ({node.type_name}) has no input or option '{shorten(socket, 80)}'"
                         f"{hint}; inputs: {known_in}; options: {known_opts or 'none'}", spath, key=True)
                continue
            self.bind(graph, e, socket, value, spath)

    def bind(self, graph: Graph, e: Any, socket: str, value: Any, spath: YamlPath) -> None:
        mixed = [(sub, text) for sub, text in embedded_refs(value) if not is_ref_text(text)]
        for sub, text in mixed:
            self.err(f"node '{e.name}': '{socket}{path_text(sub)}' mixes text and a reference"
                     f" ({shorten(text, 80)!r}); bind the whole value to one ${{...}}, build text with"
                     " text.template, or write $${ for a literal ${", (*spath, *sub))
        if mixed:
            self.reported.add((e.name, socket))
            return
        bound = read_value(value)
        tp = e.inputs[socket].type
        if isinstance(bound, Pack):
            for sub, _ in bound.refs:
                e.locations[f"{socket}{path_text(sub)}"] = self.doc.value_location((*spath, *sub))
            bound = Pack(_rebase_images(bound.template, tp, self.doc.base_dir), bound.refs)
            try:
                bound = graph.coerce_pack(e, socket, bound)
            except GraphError as exc:  # reported; its references are still checked
                self.err(exc.message, spath)
            e.bindings[socket] = bound
        elif isinstance(bound, Ref):
            e.bindings[socket] = bound
        else:
            try:
                e.constants[socket] = coerce_value(_rebase_images(bound, tp, self.doc.base_dir), tp,
                                                   what=f"'{e.name}.{socket}'")
            except TypeError as exc:
                self.reported.add((e.name, socket))
                self.err(str(exc), spath)

    def outputs(self, graph: Graph, spec: GraphSpec) -> None:
        for name, value in spec.outputs.items():
            path = ("outputs", name)
            graph.output_locations[name] = self.doc.value_location(path)
            if not is_ref_text(value):
                self.err(f"output '{name}' must be one reference like ${{NODE.SOCKET}}, got"
                         f" {shorten(value, 80)!r}", path)
                continue
            graph.outputs[name] = Ref.parse(value)

    def build(self) -> Graph:
        spec = self.schema()
        graph = Graph(spec.name, description=spec.description, file=self.doc.file)
        dirs = spec.prompts_dir
        dirs = [dirs] if isinstance(dirs, str) else list(dirs or [])
        graph.prompt_dirs = [os.path.abspath(os.path.join(self.doc.base_dir, d)) for d in dirs]
        self.context = BuildContext(self.doc.base_dir, tuple(graph.prompt_dirs), self.context.cache)
        self.inputs(graph, spec)
        self.models(graph, spec)
        for name, entry in spec.nodes.items():
            self.node(graph, name, entry)
        self.outputs(graph, spec)
        if spec.tune is not None:
            from .tune.config import check_tune

            self.errors += check_tune(self.doc, spec.tune, set(spec.nodes))
        for problem in graph.validate():
            if problem.ref_node in self.failed_nodes or problem.node in self.failed_nodes:
                continue  # already reported where that node failed
            if problem.kind == "unbound" and (problem.node, problem.socket) in self.reported:
                continue  # its bad binding was reported
            self.errors.append(problem)
        if self.errors:
            self.errors.sort(key=lambda e: (e.location.line or 0, e.location.col or 0))
            raise ValidationFailed(self.errors)
        return graph


def _fits(tp: Any, value: Any) -> bool:
    try:
        TypeAdapter(tp).validate_python(value)
        return True
    except ValidationError:
        return False


def _unescaped(value: Any) -> Any:
    if isinstance(value, str):
        return unescape(value)
    if isinstance(value, list):
        return [_unescaped(v) for v in value]
    if isinstance(value, dict):
        return {k: _unescaped(v) for k, v in value.items()}
    return value


def _model_required(cls: type[Node]) -> bool:
    import inspect

    init = getattr(cls.__init__, "__wrapped__", cls.__init__)
    p = inspect.signature(init).parameters.get("model")
    return p is not None and p.default is inspect.Parameter.empty


def _validate_option(tp: Any, value: Any) -> Any:
    if tp is Any:
        return value
    return TypeAdapter(tp).validate_python(value)


def load_graph_text(
    text: str,
    file: str = "<string>",
    *,
    base_dir: str | None = None,
    overrides: list[str] | None = None,
    context: BuildContext | None = None,
) -> Graph:
    """Build a validated graph from YAML text (see the module docstring). ``context`` gives the
    cache; base and prompt folders come from the file."""
    try:
        doc = load_yaml_text(text, file)
    except GraphError as exc:  # YAML syntax, duplicate keys
        raise ValidationFailed([exc]) from None
    doc.base = base_dir
    return graph_from_document(doc, overrides, context)


def graph_from_document(doc: YamlDocument, overrides: list[str] | None = None,
                        context: BuildContext | None = None) -> Graph:
    """Apply ``--set`` overrides to a read YAML document and build the validated graph."""
    try:
        apply_overrides(doc, overrides or [], expand=_expand_input)
    except GraphError as exc:
        raise ValidationFailed([exc]) from None
    return _Builder(doc, context or BuildContext()).build()


def load_graph(
    path: str | os.PathLike[str],
    *,
    overrides: list[str] | None = None,
    context: BuildContext | None = None,
) -> Graph:
    """Load, validate and return the graph in a YAML file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValidationFailed([GraphError(f"cannot read graph file: {exc.strerror}", file=str(p))]) from None
    except UnicodeDecodeError as exc:
        raise ValidationFailed([GraphError(f"not UTF-8 text ({exc.reason})", file=str(p))]) from None
    return load_graph_text(text, str(p), overrides=overrides, context=context)


# --------------------------------------------------------------------------- dumping


def graph_to_dict(graph: Graph) -> dict[str, Any]:
    """A plain-data form of the graph that :func:`load_graph_text` reads back (prompt folders
    as absolute paths, so the dump validates wherever it is written)."""
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
                d["default"] = escape(to_jsonable(spec.default))
            if spec.description:
                d["description"] = spec.description
            inputs[name] = d
    nodes: dict[str, Any] = {}
    for name, e in graph.nodes.items():
        if not e.node.type_name:
            raise GraphError(f"node '{name}' ({type(e.node).__name__}) has no registered type name")
        d = {"type": e.node.type_name}
        for k, v in e.node.params().items():
            if k in e.node.context_options:
                continue
            d[k] = model_name(v) if isinstance(v, ModelBackend) else escape(to_jsonable(v))
        if e.for_each:
            d["for_each"] = {s: str(r) for s, r in e.for_each.items()}
        for s, r in e.bindings.items():
            d[s] = Pack(escape(to_jsonable(r.template)), r.refs).to_data() if isinstance(r, Pack) else str(r)
        for s, v in e.constants.items():
            d[s] = escape(to_jsonable(v))
        nodes[name] = d
    out: dict[str, Any] = {"name": graph.name}
    if graph.description:
        out["description"] = graph.description
    if graph.prompt_dirs:
        out["prompts_dir"] = list(graph.prompt_dirs)
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
