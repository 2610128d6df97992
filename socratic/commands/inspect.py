"""``socratic validate``, ``show``, ``nodes`` and ``backends``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..errors import UsageError, ValidationFailed


def cmd_validate(args: argparse.Namespace) -> int:
    """Graphs and training configs (a top-level ``task:``), each checked completely."""
    from ..yaml_source import load_yaml_file

    failed = False
    for path in args.graphs:
        try:
            what = _validate_document(load_yaml_file(path), args.set)
        except ValidationFailed as exc:
            failed = True
            for e in exc.errors:
                print(str(e), file=sys.stderr)
            continue
        print(f"{path}: ok ({what})")
    return 2 if failed else 0


def _validate_document(doc: Any, overrides: list[str]) -> str:
    from ..adapters.tasks import is_training_config, training_config_from_document
    from ..spec import graph_from_document

    if is_training_config(doc.data):
        config = training_config_from_document(doc, overrides)
        return f"training config, task {config.task}"
    graph = graph_from_document(doc, overrides)
    return f"{len(graph.nodes)} nodes, {len(graph.outputs)} outputs"


def cmd_show(args: argparse.Namespace) -> int:
    from .. import catalog
    from ..spec import graph_to_yaml, load_graph

    graph = load_graph(args.graph, overrides=args.set)
    if getattr(args, "engine", "local") == "ray":
        from ..engines import plan_stages

        plan = plan_stages(graph)
        if args.format == "json":
            json.dump(plan.as_dict(), sys.stdout, indent=2)
            print()
        elif args.format == "text":
            print(plan.text())
        else:
            raise UsageError("--engine ray prints the stage plan as text or json")
        return 0
    if args.format == "json":
        json.dump(catalog.graph_summary(graph), sys.stdout, indent=2)
        print()
    elif args.format == "mermaid":
        print(catalog.graph_mermaid(graph))
    elif args.format == "dot":
        print(catalog.graph_dot(graph))
    elif args.format == "yaml":
        print(graph_to_yaml(graph), end="")
    else:
        print(catalog.graph_text(graph))
    return 0


def cmd_nodes(args: argparse.Namespace) -> int:
    from .. import catalog

    if args.format == "json":
        json.dump(catalog.all_node_types(), sys.stdout, indent=2)
        print()
    elif args.format == "markdown":
        print(catalog.node_types_markdown())  # the shipped node types (docs/yaml.md)
    else:
        print(catalog.node_types_text())
    return 0


def cmd_backends(args: argparse.Namespace) -> int:
    from .. import catalog
    from ..models import backend_names

    if args.format == "json":
        json.dump([catalog.describe_backend(n) for n in backend_names()], sys.stdout, indent=2)
        print()
    elif args.format == "markdown":
        print(catalog.backends_markdown())
    else:
        print(catalog.backends_text())
    return 0
