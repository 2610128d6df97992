"""What ``socratic train`` can train, selected by a config's ``task:`` field, and the one loader
of training configs.

Each task names its config class (pydantic, no torch at import) and the function that trains it
(``"module:function"``, imported only when a run starts). Configs are read in the project's one
config language (:mod:`socratic.yaml_source`): every problem at once as ``FILE:LINE:COL``, "did
you mean" for misspelt keys, the ``--set`` rule of graphs, and ``./`` paths relative to the file.

Example:
    >>> sorted(task_names())
    ['bridge', 'contrastive', 'flamingo', 'fromage', 'llava', 'lora', 'mae', 'pgn', 'qformer_stage1']
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "t.yaml")
    >>> _ = open(path, "w").write("task: lora\\nlm: {path: ./gpt2, tune: lora}\\n"
    ...                           "data: {train: ./qa.jsonl}\\ntrain: {output_dir: out, max_stepz: 3}\\n")
    >>> try:
    ...     load_training_config(path)
    ... except ValidationFailed as exc:
    ...     print(str(exc.errors[0]).split(": error: ")[1])
    unknown key 'train.max_stepz' (did you mean 'max_steps'?)
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from socratic.errors import GraphError, ValidationFailed, did_you_mean, shorten
from socratic.yaml_source import (
    YamlDocument,
    apply_overrides,
    load_yaml_file,
    rebase_paths,
    validate_model,
)

# task -> (config class, trainer function), both "module:name"
_TASKS: dict[str, tuple[str, str]] = {
    "bridge": ("socratic.adapters.config:RunConfig", "socratic.adapters.runs:run"),
    "lora": ("socratic.adapters.config:RunConfig", "socratic.adapters.runs:run"),
    "contrastive": ("socratic.adapters.contrastive.config:ContrastiveConfig",
                    "socratic.adapters.contrastive.train:train_contrastive"),
    "qformer_stage1": ("socratic.adapters.qformer.config:QFormerStage1Config",
                       "socratic.adapters.qformer.train:train_stage1"),
    "fromage": ("socratic.adapters.fromage.config:FromageConfig",
                "socratic.adapters.fromage.train:train_fromage"),
    "flamingo": ("socratic.adapters.flamingo.config:FlamingoConfig",
                 "socratic.adapters.flamingo.train:train_flamingo"),
    "pgn": ("socratic.adapters.pgn.config:PGNConfig", "socratic.adapters.pgn.train:train_pgn"),
    "mae": ("socratic.adapters.mae.config:MAEConfig", "socratic.adapters.mae.train:train_mae"),
}


def register_task(name: str, config: str, trainer: str) -> None:
    """Add a task: ``config`` and ``trainer`` are ``"module:name"`` strings."""
    _TASKS[name] = (config, trainer)


def task_names() -> list[str]:
    return list(_TASKS)


def _load(target: str) -> Any:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def config_class(task: str) -> Any:
    """The config class of ``task``."""
    return _load(_TASKS[task][0])


def is_training_config(data: Any) -> bool:
    """A training config (top-level ``task:``, no ``nodes:``) rather than a graph."""
    return isinstance(data, dict) and "task" in data and "nodes" not in data


def training_config_from_document(doc: YamlDocument, overrides: list[str] | None = None) -> Any:
    """Apply ``--set`` overrides to a read document and validate it as a training config;
    every problem raises at once."""
    try:
        apply_overrides(doc, overrides or [])
    except GraphError as exc:
        raise ValidationFailed([exc]) from None
    data = doc.data
    if not isinstance(data, dict):
        what = "a training config is a mapping with 'task:' and its sections"
        raise ValidationFailed([doc.error(what, ())])
    task = data.get("task")
    if task not in _TASKS:
        hint = did_you_mean(task, _TASKS)
        where: tuple[Any, ...] = ("task",) if "task" in data else ()
        raise ValidationFailed([doc.error(
            f"unknown task '{shorten(task, 100)}'{hint}; tasks: {', '.join(_TASKS)}" if "task" in data
            else f"missing required key 'task' (one of: {', '.join(_TASKS)})", where)])
    cls = config_class(str(task))
    config, problems = validate_model(doc, cls, rebase_paths(doc, data))
    if problems:
        raise ValidationFailed(sorted(problems, key=_position))
    return config


def load_training_config(path: str | os.PathLike[str], overrides: list[str] | None = None) -> Any:
    """Read, override and validate a training config file (see the module docstring)."""
    return training_config_from_document(load_yaml_file(path), overrides)


def train(config: Any) -> dict[str, Any]:
    """Train what ``config`` describes; returns the final metrics."""
    return _load(_TASKS[config.task][1])(config)


def _position(e: GraphError) -> tuple[int, int]:
    return (e.location.line or 0, e.location.col or 0)


register_task("llava", "socratic.adapters.llava.config:LlavaRunConfig",
              "socratic.adapters.llava.train:run_llava")
