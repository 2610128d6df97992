"""``socratic tune``: tune a vision-language graph's knobs against data.

A ``tune:`` section in the graph file declares the knobs (:mod:`socratic.tune.config`); the
search (:mod:`socratic.tune.search`) scores trials on the training rows, every trial through the
caches (:mod:`socratic.tune.trials`); the untuned and the tuned graph are then scored on the dev
rows, with the controls the graph outputs beside the compared output (for descriptor
classification: class names, template ensemble, random descriptors). The tuned graph is written
as ``GRAPH.tuned.yaml`` (it validates and runs like any graph), with a report: a table
(``tune_report.md``), every trial (``trials.json``) and a plot of metric and cost per trial
(``tune_trials.png``).

Example:
    >>> from socratic.tune import tune_graph   # doctest: +SKIP
    >>> result = tune_graph("graph.yaml", "train.jsonl", "dev.jsonl")   # doctest: +SKIP
    >>> result.dev["tuned"] > result.dev["untuned"]   # doctest: +SKIP
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import Knob, TuneSpec, score
from .trials import Evaluation, Trial, Trials

__all__ = ["Evaluation", "Knob", "Trial", "Trials", "TuneResult", "TuneSpec", "score", "tune_graph"]


@dataclass
class TuneResult:
    """What tuning found: the values set, train and dev figures, the files written.

    Example:
        >>> TuneResult(values={}, train={"untuned": 0.5, "tuned": 0.5}, dev={}).changed
        False
    """

    values: dict[str, Any]
    train: dict[str, float]
    dev: dict[str, Any]
    trials: list[Trial] = field(default_factory=list)
    calls: int = 0
    tuned_graph: Path | None = None
    report: dict[str, str] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.values)


def read_spec(doc: Any, *, metric: str | None = None, budget: int | None = None,
              seed: int | None = None) -> TuneSpec:
    """The ``tune:`` section of a read graph file, checked (errors located in the file)."""
    from ..errors import GraphError, ValidationFailed
    from ..yaml_source import validate_model

    raw = doc.data.get("tune") if isinstance(doc.data, dict) else None
    if not isinstance(raw, dict):
        raise ValidationFailed([GraphError("no tune: section (knobs to tune); see docs/tuning.md",
                                           file=doc.file)])
    spec, problems = validate_model(doc, TuneSpec, raw, root=("tune",), prefix="tune: ")
    if spec is None:
        raise ValidationFailed(problems)
    updates = {k: v for k, v in (("metric", metric), ("budget", budget), ("seed", seed)) if v is not None}
    return spec.model_copy(update=updates) if updates else spec


def tune_graph(graph: str | os.PathLike[str], train: str | os.PathLike[str] | list[Any],
               dev: str | os.PathLike[str] | list[Any], *, metric: str | None = None,
               out: str | os.PathLike[str] | None = None, report_dir: str | os.PathLike[str] | None = None,
               budget: int | None = None, seed: int | None = None, overrides: list[str] | None = None,
               context: Any = None, concurrency: int = 16) -> TuneResult:
    """Tune the graph file ``graph`` (see the module docstring); rows from data files or lists."""
    from ..spec import _expand_input
    from ..yaml_source import apply_overrides, load_yaml_file
    from .report import write_report
    from .search import search

    path = Path(graph)
    doc = load_yaml_file(path)
    apply_overrides(doc, overrides or [], expand=_expand_input)
    spec = read_spec(doc, metric=metric, budget=budget, seed=seed)
    out_path = Path(out) if out else path.with_name(f"{path.stem}.tuned.yaml")
    workdir = out_path.with_name(f"{out_path.stem}.trials")
    workdir.mkdir(parents=True, exist_ok=True)
    trials = Trials(path, spec, {}, context=context, concurrency=concurrency, doc=doc)
    base_graph = trials.build({})
    trials.rows = {"train": _rows(train, base_graph), "dev": _rows(dev, base_graph)}
    values = search(trials, workdir)
    train_fig = {"untuned": trials.evaluate({}, "train").metric,
                 "tuned": trials.evaluate(values, "train").metric}
    dev_fig: dict[str, Any] = {}
    for name, vals in (("untuned", {}), ("tuned", values)):
        ev = trials.evaluate(vals, "dev")
        trials.note(name, vals if name == "tuned" else {}, "dev", ev)
        dev_fig[name] = ev.metric
        dev_fig[f"{name}_controls"] = ev.controls
    final = _finalize(trials, values, out_path)
    _write_tuned(trials, final, out_path, spec, train_fig, dev_fig)
    result = TuneResult(values=final, train=train_fig, dev=dev_fig, trials=list(trials.history),
                        calls=trials.spent, tuned_graph=out_path)
    result.report = write_report(result, Path(report_dir) if report_dir else workdir.parent, spec)
    return result


def _rows(source: Any, graph: Any) -> list[Any]:
    if isinstance(source, list):
        return source
    from ..datasets import iter_records
    from ..runner import image_inputs

    return list(iter_records(source, "auto", resolve=image_inputs(graph)))


def _finalize(trials: Trials, values: dict[str, Any], out_path: Path) -> dict[str, Any]:
    """Values as the tuned file says them: pruned descriptors copied beside it (``./`` path)."""
    final = dict(values)
    for knob in trials.spec.knobs:
        key = f"nodes.{knob.node}.path"
        if knob.kind == "descriptors" and key in final:
            target = out_path.with_name(f"{out_path.stem}.{knob.node}.json")
            shutil.copyfile(final[key], target)
            final[key] = f"./{target.name}"
    return final


def _write_tuned(trials: Trials, values: dict[str, Any], out_path: Path, spec: TuneSpec,
                 train: dict[str, float], dev: dict[str, Any]) -> None:
    import yaml

    data = trials.data(values)
    head = [f"# tuned by socratic tune from {trials.path.name} ({spec.metric} on '{spec.output}'):",
            f"#   train {train['untuned']:.3f} -> {train['tuned']:.3f}, dev {dev['untuned']:.3f} ->"
            f" {dev['tuned']:.3f}; {trials.spent} model calls, seed {spec.seed}"]
    head += [f"#   {k} = {_short(v)}" for k, v in values.items()] or ["#   (no knob changed)"]
    body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    out_path.write_text("\n".join(head) + "\n" + body, encoding="utf-8")


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."
