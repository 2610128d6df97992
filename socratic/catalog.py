"""Describe registered node types and graphs for humans and tools (CLI ``nodes``, ``show``,
and the generated ``docs/yaml.md``).

Example:
    >>> info = describe_node_type("text.join")
    >>> info["inputs"], info["outputs"]
    ({'items': 'list[str]'}, {'output': 'str'})
"""

from __future__ import annotations

import inspect
from typing import Any

from .node import Node, _signature_sockets
from .refs import Pack
from .registry import node_class, node_type_names
from .types import type_name

DYNAMIC = "depends on options"


def _first_line(doc: str | None) -> str:
    return (inspect.cleandoc(doc).split("\n\n")[0].replace("\n", " ") if doc else "").strip()


def describe_node_type(name: str) -> dict[str, Any]:
    """Inputs, outputs, options and summary of a node type (sockets that depend on options,
    such as a prompt's variables, are marked as such)."""
    cls = node_class(name)
    inputs: Any
    if cls.input_sockets is Node.input_sockets:
        sockets = _signature_sockets(cls._run_method())
        inputs = {
            s.name: type_name(s.type) + ("" if s.required else f" = {s.default!r}")
            for s in sockets.values()
        }
    else:
        inputs = DYNAMIC
    if cls.output_sockets is Node.output_sockets:
        outputs: Any = {k: type_name(v) for k, v in cls.outputs.items()}
    else:
        outputs = DYNAMIC
    options = {}
    init = getattr(cls.__init__, "__wrapped__", cls.__init__)
    if init is not object.__init__:
        sig = inspect.signature(init)
        for opt, tp in cls.option_types().items():
            if opt in cls.context_options:
                continue
            p = sig.parameters[opt]
            default = "" if p.default is inspect.Parameter.empty else f" = {p.default!r}"
            options[opt] = type_name(tp) + default
    return {
        "type": name,
        "summary": _first_line(cls.__doc__),
        "model": getattr(cls, "model_kind", None),
        "batchable": bool(cls.batchable),
        "inputs": inputs,
        "outputs": outputs,
        "options": options,
        "doc": inspect.cleandoc(cls.__doc__ or ""),
    }


def all_node_types(*, builtin_only: bool = False) -> list[dict[str, Any]]:
    """Every registered node type (``builtin_only``: those shipped with socratic)."""
    from .registry import builtin_node_type_names

    names = builtin_node_type_names() if builtin_only else node_type_names()
    return [describe_node_type(n) for n in names]


def _fmt(d: Any) -> str:
    if isinstance(d, str):
        return f"({d})"
    return ", ".join(f"{k}: {v}" for k, v in d.items()) or "-"


def node_types_text() -> str:
    lines = []
    for info in all_node_types():
        model = f" [model: {info['model']}]" if info["model"] else ""
        lines.append(f"{info['type']}{model}  {info['summary']}")
        lines.append(f"    inputs:  {_fmt(info['inputs'])}")
        lines.append(f"    outputs: {_fmt(info['outputs'])}")
        if info["options"]:
            lines.append(f"    options: {_fmt(info['options'])}")
    return "\n".join(lines)


def node_types_markdown() -> str:
    out = ["## Node types", "", "Generated from the registry by `socratic nodes --format markdown`.", ""]
    for info in all_node_types(builtin_only=True):
        out.append(f"### `{info['type']}`")
        out.append("")
        if info["summary"]:
            out.append(info["summary"])
            out.append("")
        if info["model"]:
            out.append(f"- model: a `{info['model']}` entry of `models:`")
        out.append(f"- inputs: {_md(info['inputs'])}")
        out.append(f"- outputs: {_md(info['outputs'])}")
        if info["options"]:
            out.append(f"- options: {_md(info['options'])}")
        if info["batchable"]:
            out.append("- batchable: calls are grouped across rows and `for_each` items")
        out.append("")
    return "\n".join(out)


def _md(d: Any) -> str:
    if isinstance(d, str):
        return f"*{d}*"
    return ", ".join(f"`{k}`: `{v}`" for k, v in d.items()) or "none"


# --------------------------------------------------------------------------- backends


def describe_backend(name: str) -> dict[str, Any]:
    """Kind, summary and options (type, default, help) of a model backend; imports no torch.

    Example:
        >>> info = describe_backend("replay")
        >>> info["kind"], "path" in info["options"]
        ('llm', True)
    """
    from .models import backend_class

    cls = backend_class(name)
    options = {}
    for opt, f in cls.Config.model_fields.items():
        required = f.is_required()
        default = "" if required else f" = {f.get_default(call_default_factory=True)!r}"
        options[opt] = {"type": type_name(f.annotation) + default, "required": required,
                        "help": f.description or ""}
    return {"backend": name, "kind": cls.kind, "summary": _first_line(cls.__doc__), "options": options}


def backends_text() -> str:
    from .models import backend_names

    lines = []
    for name in backend_names():
        info = describe_backend(name)
        lines.append(f"{name} [{info['kind']}]  {info['summary']}")
        for opt, o in info["options"].items():
            lines.append(f"    {opt}: {o['type']}" + (f"  - {o['help']}" if o["help"] else ""))
    return "\n".join(lines)


def backends_markdown() -> str:
    """The reference of every model backend (docs/backends.md's generated section)."""
    from .models import backend_names

    out = ["## Backends", "", "Generated by `socratic backends --format markdown`.", ""]
    for name in backend_names():
        info = describe_backend(name)
        out += [f"### `{name}` ({info['kind']})", "", info["summary"], "",
                "| option | type = default | what it does |", "|---|---|---|"]
        for opt, o in info["options"].items():
            typ = o["type"].replace("|", "\\|")
            out.append(f"| `{opt}`{' (required)' if o['required'] else ''} | `{typ}` | {o['help']} |")
        out.append("")
    return "\n".join(out)


# --------------------------------------------------------------------------- graphs


def graph_summary(graph: Any) -> dict[str, Any]:
    """Machine-readable description: inputs, outputs and nodes with socket types."""
    nodes = {}
    for name, e in graph.nodes.items():
        fan = bool(e.for_each)
        nodes[name] = {
            "type": e.node.type_name,
            "inputs": {s: type_name(sock.type) for s, sock in e.inputs.items()},
            "outputs": {
                s: type_name(list[sock.type] if fan else sock.type) for s, sock in e.outputs.items()
            },
            "bindings": {s: r.to_data() if isinstance(r, Pack) else str(r) for s, r in e.bindings.items()},
            "for_each": {s: str(r) for s, r in e.for_each.items()},
            "constants": sorted(e.constants),
            "model": next(
                (m for m, obj in graph.models.items() if obj is getattr(e.node, "model", None)), None
            ),
        }
    return {
        "name": graph.name,
        "description": graph.description,
        "inputs": {
            n: {"type": type_name(i.type), "required": i.required} for n, i in graph.inputs.items()
        },
        "outputs": {n: type_name(t) for n, t in graph.output_types.items()},
        "models": {n: m.to_spec() for n, m in graph.models.items()},
        "nodes": nodes,
    }


def _edges(graph: Any) -> list[tuple[str, str, str]]:
    edges = []
    for name, e in graph.nodes.items():
        for s, r in e.sources():
            label = f"for_each {s}" if s in e.for_each else f"{r.socket}->{s}"
            edges.append((r.node if not r.is_input else f"in:{r.socket}", name, label))
    for out, r in graph.outputs.items():
        edges.append((r.node if not r.is_input else f"in:{r.socket}", f"out:{out}", r.socket))
    return edges


def graph_mermaid(graph: Any) -> str:
    def nid(x: str) -> str:
        return x.replace(":", "__").replace("-", "_").replace(".", "_")

    lines = ["flowchart LR"]
    for n, i in graph.inputs.items():
        lines.append(f'    {nid("in:" + n)}(["{n}: {type_name(i.type)}"])')
    for n, e in graph.nodes.items():
        lines.append(f'    {nid(n)}["{n}<br/>{e.node.type_name}"]')
    for n, t in graph.output_types.items():
        lines.append(f'    {nid("out:" + n)}(["{n}: {type_name(t)}"])')
    for src, dst, label in _edges(graph):
        lines.append(f'    {nid(src)} -->|"{label}"| {nid(dst)}')
    return "\n".join(lines)


def graph_dot(graph: Any) -> str:
    lines = [f'digraph "{graph.name}" {{', "  rankdir=LR;"]
    for n, i in graph.inputs.items():
        lines.append(f'  "in:{n}" [shape=oval, label="{n}: {type_name(i.type)}"];')
    for n, e in graph.nodes.items():
        lines.append(f'  "{n}" [shape=box, label="{n}\\n{e.node.type_name}"];')
    for n, t in graph.output_types.items():
        lines.append(f'  "out:{n}" [shape=oval, label="{n}: {type_name(t)}"];')
    for src, dst, label in _edges(graph):
        lines.append(f'  "{src}" -> "{dst}" [label="{label}"];')
    lines.append("}")
    return "\n".join(lines)


def graph_text(graph: Any) -> str:
    s = graph_summary(graph)
    lines = [f"graph {s['name']}" + (f" - {s['description']}" if s["description"] else "")]
    lines.append("inputs:")
    for n, i in s["inputs"].items():
        lines.append(f"  {n}: {i['type']}" + ("" if i["required"] else " (optional)"))
    if s["models"]:
        lines.append("models:")
        for n, m in s["models"].items():
            lines.append(f"  {n}: {m}")
    lines.append("nodes:")
    for n, d in s["nodes"].items():
        lines.append(f"  {n} ({d['type']})" + (f" model={d['model']}" if d["model"] else ""))
        for sock, t in d["inputs"].items():
            src = d["bindings"].get(sock) or (
                f"for_each {d['for_each'][sock]}" if sock in d["for_each"] else
                "constant" if sock in d["constants"] else "default")
            lines.append(f"    in  {sock}: {t} <- {src}")
        for sock, t in d["outputs"].items():
            lines.append(f"    out {sock}: {t}")
    lines.append("outputs:")
    for n, t in s["outputs"].items():
        lines.append(f"  {n}: {t} <- {graph.outputs[n]}")
    return "\n".join(lines)


#: generated sections: marker -> the function that writes them
GENERATED = {
    "socratic nodes --format markdown": node_types_markdown,
    "socratic backends --format markdown": backends_markdown,
}


def write_reference(path: str) -> None:
    """Regenerate every generated section of a docs page (docs/yaml.md, docs/backends.md)."""
    from pathlib import Path

    doc = Path(path)
    text = doc.read_text()
    for marker, make in GENERATED.items():
        begin = f"<!-- BEGIN GENERATED: {marker} -->"
        if begin in text:
            head, _, rest = text.partition(begin)
            _, _, tail = rest.partition("<!-- END GENERATED -->")
            text = f"{head}{begin}\n{make().strip()}\n<!-- END GENERATED -->{tail}"
    doc.write_text(text)


if __name__ == "__main__":  # python -m socratic.catalog --write docs/yaml.md docs/backends.md
    import sys

    if len(sys.argv) >= 3 and sys.argv[1] == "--write":
        for page in sys.argv[2:]:
            write_reference(page)
    else:
        print(node_types_markdown())
