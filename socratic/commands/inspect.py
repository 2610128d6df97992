"""``socratic validate``, ``socratic show`` and ``socratic nodes``."""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import GraphError, ValidationFailed


def cmd_validate(args: argparse.Namespace) -> int:
    from ..spec import load_graph

    failed = False
    for path in args.graphs:
        if _is_training_config(path):
            failed |= not _validate_training_config(path, args.set)
            continue
        try:
            graph = load_graph(path, overrides=args.set)
        except ValidationFailed as exc:
            failed = True
            for e in exc.errors:
                print(str(e), file=sys.stderr)
            continue
        except GraphError as exc:
            failed = True
            print(str(exc), file=sys.stderr)
            continue
        print(f"{path}: ok ({len(graph.nodes)} nodes, {len(graph.outputs)} outputs)")
    return 2 if failed else 0


def _is_training_config(path: str) -> bool:
    """A ``socratic train`` config (top-level ``task:``, no ``nodes:``) rather than a graph."""
    import yaml

    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, yaml.YAMLError):
        return False  # the graph loader reports it with a location
    return (
        isinstance(data, dict)
        and "nodes" not in data
        and ("task" in data or data.get("type") == "contrastive")
    )


def _validate_training_config(path: str, overrides: list[str]) -> bool:
    """Check a training config against its schema (no torch import); print ok or the errors."""
    try:
        from ..adapters.config import ConfigError, RunConfig
        from ..adapters.contrastive.config import ContrastiveConfig, is_contrastive_config
    except ImportError as exc:  # pragma: no cover - the package is always installed
        print(f"{path}: error: cannot check training configs: {exc}", file=sys.stderr)
        return False
    schema = ContrastiveConfig if is_contrastive_config(path) else RunConfig
    try:
        schema.from_yaml(path, overrides)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return False
    print(f"{path}: ok (training config)")
    return True


def cmd_show(args: argparse.Namespace) -> int:
    from .. import catalog
    from ..spec import graph_to_yaml, load_graph

    graph = load_graph(args.graph, overrides=args.set)
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
