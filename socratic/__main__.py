"""``python -m socratic ...`` is the ``socratic`` command (``torchrun -m socratic train CONFIG``)."""

from .cli import main

raise SystemExit(main())
