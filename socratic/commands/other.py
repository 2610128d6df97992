"""``socratic cache``, ``eval`` and ``demo``."""

from __future__ import annotations

import argparse
import json

from ..errors import SocraticError


def cmd_cache(args: argparse.Namespace) -> int:
    from ..cache import Cache

    c = Cache(args.cache_dir) if args.cache_dir else Cache()
    if args.action == "stats":
        print(json.dumps(c.stats(), indent=2))
    else:
        n = c.clear(args.namespace)
        print(f"removed {n} entries from {c.path}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    try:
        from ..eval.cli import eval_main
    except ImportError as exc:
        raise SocraticError(f"socratic eval is not available: {exc}") from None
    return eval_main(args)


def cmd_demo(args: argparse.Namespace) -> int:
    from ..extras import check

    for module in ("torch", "open_clip", "transformers", "accelerate", "matplotlib"):
        check(module, what="socratic demo")
    if args.prepare_data:
        from ..adapters.demo import prepare_shapes_demo

        print(prepare_shapes_demo(args.prepare_data, quick=args.quick))
        return 0
    try:
        from ..demo import demo_main
    except ImportError as exc:
        raise SocraticError(f"socratic demo is not available: {exc}") from None
    return demo_main(args)
