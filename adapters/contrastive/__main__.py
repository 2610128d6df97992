"""``python -m socratic.adapters.contrastive CONFIG.yaml [--set key=value ...] [--debug]``; under
``torchrun --nproc_per_node N -m socratic.adapters.contrastive CONFIG`` it trains with DDP."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m socratic.adapters.contrastive")
    parser.add_argument("config")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args(argv)
    from .train import contrastive_main

    return contrastive_main(args.config, args.overrides, debug=args.debug)


if __name__ == "__main__":
    sys.exit(main())
