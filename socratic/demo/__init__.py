"""The offline shapes-world demo: every recipe working end to end, with numbers.

``socratic demo`` runs :func:`socratic.demo.run.demo_main`.
"""

from __future__ import annotations

from typing import Any


def demo_main(args: Any) -> int:
    """Entry point of ``socratic demo`` (imports torch only when called)."""
    from .run import demo_main as main

    return main(args)
