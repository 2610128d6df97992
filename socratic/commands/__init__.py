"""Handlers of the ``socratic`` subcommands (imported only after arguments are parsed)."""

from .inspect import cmd_nodes, cmd_show, cmd_validate
from .other import cmd_cache, cmd_demo, cmd_eval, cmd_train
from .run import cmd_run

__all__ = [
    "cmd_cache",
    "cmd_demo",
    "cmd_eval",
    "cmd_nodes",
    "cmd_run",
    "cmd_show",
    "cmd_train",
    "cmd_validate",
]
