"""``python -m socratic.adapters CONFIG.yaml [--set key=value ...] [--debug]``: the same as
``socratic train``; handy under ``torchrun --nproc_per_node N -m socratic.adapters CONFIG``."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m socratic.adapters")
    parser.add_argument("config")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args(argv)
    from socratic.adapters_cli import train_main

    return train_main(args.config, args.overrides, debug=args.debug)


if __name__ == "__main__":
    sys.exit(main())
