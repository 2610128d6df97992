"""``socratic report``: one static HTML page of a run's results (and its trace)."""

from __future__ import annotations

import argparse


def cmd_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..errors import InputError
    from ..report import write_report

    if not Path(args.source).exists():
        raise InputError(f"socratic report: {args.source} does not exist")
    path = write_report(args.source, args.output, data=args.data, trace=args.trace, truth=args.truth,
                        output=args.compare, title=args.title, link_images=args.link_images)
    print(f"report: {path} ({path.stat().st_size // 1024} KiB)")
    return 0
