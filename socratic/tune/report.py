"""The tuning report: a table (Markdown), every trial (JSON) and a plot of metric and cost per
trial (PNG, when matplotlib is installed).

Example:
    >>> from socratic.tune.trials import Trial
    >>> print(trial_table([Trial(0, "untuned", {}, "train", 0.5, 120, 0.1)]).splitlines()[2])
    | 0 | train | untuned | - | 0.500 | 120 |
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .config import TuneSpec


def trial_table(trials: list[Any]) -> str:
    lines = ["| trial | split | knob | value | metric | model calls |", "|---|---|---|---|---|---|"]
    for t in trials:
        value = ", ".join(f"{k}={_cell(v)}" for k, v in t.values.items()) or "-"
        lines.append(f"| {t.index} | {t.split} | {t.knob} | {value} | {t.metric:.3f} | {t.calls} |")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    text = text.replace("|", "\\|")
    return text if len(text) <= 60 else text[:57] + "..."


def summary_table(result: Any, spec: TuneSpec) -> str:
    """Untuned vs tuned on train and dev, with the controls the graph outputs."""
    dev = result.dev
    lines = [f"| {spec.metric} | untuned | tuned |", "|---|---|---|",
             f"| train: {spec.output} | {result.train['untuned']:.3f} | {result.train['tuned']:.3f} |"]
    for name in dev["untuned_controls"]:
        a, b = dev["untuned_controls"].get(name, 0.0), dev["tuned_controls"].get(name, 0.0)
        label = f"dev: {name}" + ("" if name == spec.output else " (control)")
        lines.append(f"| {label} | {a:.3f} | {b:.3f} |")
    return "\n".join(lines)


def plot_trials(trials: list[Any], path: Path) -> Path | None:
    """Metric and model calls per trial (training trials; dev points marked)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    fig = Figure(figsize=(9, 4.5))
    FigureCanvasAgg(fig)
    ax, cost = fig.subplots(2, 1, sharex=True)
    xs = [t.index for t in trials]
    train = [(t.index, t.metric) for t in trials if t.split == "train"]
    dev = [(t.index, t.metric) for t in trials if t.split == "dev"]
    ax.plot([x for x, _ in train], [y for _, y in train], "o-", ms=3, color="#3b75af", label="train")
    best = 0.0
    run = []
    for _, y in train:
        best = max(best, y)
        run.append(best)
    ax.step([x for x, _ in train], run, where="post", color="#2ca02c", label="best so far")
    ax.scatter([x for x, _ in dev], [y for _, y in dev], color="#d62728", marker="*", s=80,
               label="dev (untuned, tuned)", zorder=3)
    ax.set_ylabel("metric")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8, loc="lower right")
    cost.bar(xs, [t.calls for t in trials], color="#7f7f7f")
    cost.set_ylabel("model calls")
    cost.set_xlabel("trial")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


def write_report(result: Any, folder: Path, spec: TuneSpec) -> dict[str, str]:
    """Write ``tune_report.md``, ``trials.json`` and ``tune_trials.png`` to ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = Path(result.tuned_graph).stem if result.tuned_graph else "tune"
    files = {"table": folder / f"{stem}.report.md", "trials": folder / f"{stem}.trials.json"}
    text = [f"# Tuning report: {stem}", "", summary_table(result, spec), "",
            f"{len(result.trials)} trials, {result.calls} model calls (cache hits cost nothing).",
            "", "## Values set", ""]
    text += ([f"- `{k}` = {_cell(v)}" for k, v in result.values.items()]
             or ["- none (no knob raised the metric)"])
    text += ["", "## Trials", "", trial_table(result.trials), ""]
    files["table"].write_text("\n".join(text), encoding="utf-8")
    files["trials"].write_text(json.dumps([asdict(t) for t in result.trials], indent=1, default=str) + "\n")
    plot = plot_trials(result.trials, folder / f"{stem}.trials.png")
    out = {k: str(v) for k, v in files.items()}
    if plot is not None:
        out["plot"] = str(plot)
    return out
