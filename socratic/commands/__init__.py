"""Handlers of the ``socratic`` subcommands (imported only after arguments are parsed)."""

from .inspect import cmd_backends, cmd_nodes, cmd_show, cmd_validate
from .other import cmd_cache, cmd_demo, cmd_eval
from .plan import cmd_plan
from .report import cmd_report
from .run import cmd_run
from .train import cmd_train
from .tune import cmd_tune

__all__ = [
    "cmd_backends",
    "cmd_cache",
    "cmd_demo",
    "cmd_eval",
    "cmd_nodes",
    "cmd_plan",
    "cmd_report",
    "cmd_run",
    "cmd_show",
    "cmd_train",
    "cmd_tune",
    "cmd_validate",
]
