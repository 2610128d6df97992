"""The search: seeded coordinate ascent over the knobs, scored on the training rows.

Strategy (deterministic for a seed): start from the graph as written; for each of ``rounds``
passes, visit the knobs in a seeded random order; a value knob tries each of its values with the
others fixed and keeps the best (a tie keeps what is there, so the graph changes only for a
gain); a ``descriptors`` knob prunes greedily, class by class (seeded order): it tries dropping
each descriptor of the class, drops the one whose removal raises the training metric most, and
repeats while a removal helps (keeping at least ``min_keep``); a ``demos`` knob bootstraps demos from the
training rows the current graph answers correctly and tries ``candidates`` seeded draws of each
size. A pass that changes nothing ends the search; so does the budget (model calls, counted as
:mod:`socratic.tune.trials` says), checked before each trial.

Example:
    >>> demo_shot({"q": "2+2", "shots": []}, "4")
    {'q': '2+2', 'answer': '4'}
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import json
import random
from pathlib import Path
from typing import Any

from ..scheduler import Plan, RunContext, Step
from ..types import to_jsonable
from .config import Knob, score
from .trials import Trials, get_path

_row: contextvars.ContextVar[int] = contextvars.ContextVar("socratic_tune_row", default=-1)


def search(trials: Trials, workdir: Path) -> dict[str, Any]:
    """The best values found (dotted path -> value) on the training rows."""
    spec = trials.spec
    rng = random.Random(spec.seed)
    current: dict[str, Any] = {}
    best = trials.evaluate(current, "train")
    trials.note("untuned", current, "train", best)
    for _ in range(spec.rounds):
        changed = False
        order = list(spec.knobs)
        rng.shuffle(order)
        for knob in order:
            if trials.over_budget():
                return current
            if knob.kind == "descriptors":
                found, _ = prune_descriptors(trials, knob, current, best.metric, rng, workdir)
            elif knob.kind == "demos":
                found, _ = bootstrap_demos(trials, knob, current, best.metric, rng)
            else:
                found, _ = _values(trials, knob, current, best.metric)
            if found != current:
                current, changed = found, True
                best = trials.evaluate(current, "train")  # memoised: the trial that found it
        if not changed:
            break
    return current


def _values(trials: Trials, knob: Knob, current: dict[str, Any], best: float) -> tuple[dict[str, Any], float]:
    path = knob.path or ""
    chosen = current
    for value in knob.values:
        if trials.over_budget():
            break
        candidate = {**current, path: value}
        ev = trials.evaluate(candidate, "train")
        trials.note(path, {path: value}, "train", ev)
        if ev.metric > best + 1e-12:
            best, chosen = ev.metric, candidate
    return chosen, best


# -- descriptors ---------------------------------------------------------------------------
def prune_descriptors(trials: Trials, knob: Knob, current: dict[str, Any], best: float,
                      rng: random.Random, workdir: Path) -> tuple[dict[str, Any], float]:
    """Greedy per-class pruning of a ``descriptors.load`` node's file (see the module docstring)."""
    from ..errors import InputError
    from ..recipes.descriptors import load_descriptors, save_descriptors
    from ..yaml_source import relative_to

    key = f"nodes.{knob.node}.path"
    entry = get_path(trials.base, f"nodes.{knob.node}")
    if not isinstance(entry, dict) or entry.get("type") != "descriptors.load":
        raise InputError(f"tune: a descriptors knob names a descriptors.load node; '{knob.node}' is not one")
    # each visit prunes the file as written, under the other knobs' current values
    mapping = load_descriptors(relative_to(entry["path"], trials.doc.base_dir))
    start = {k: v for k, v in current.items() if k != key}
    here = trials.evaluate(start, "train")
    trials.note(key, {"descriptors": "as written"}, "train", here)
    found, score_ = start, here.metric
    classes = list(mapping)
    rng.shuffle(classes)
    for cls in classes:
        while len(mapping[cls]) > knob.min_keep:  # drop this class's most harmful descriptor
            step = None
            for d in mapping[cls]:
                if trials.over_budget():
                    break
                trial_map = {**mapping, cls: [x for x in mapping[cls] if x != d]}
                digest = hashlib.sha1(json.dumps(trial_map, sort_keys=True).encode()).hexdigest()[:12]
                path = save_descriptors(trial_map, workdir / f"descriptors-{digest}.json")
                candidate = {**start, key: str(path)}
                ev = trials.evaluate(candidate, "train")
                trials.note(key, {"drop": f"{cls}: {d}"}, "train", ev)
                if ev.metric > score_ + 1e-12:
                    score_, step = ev.metric, (candidate, trial_map)
            if step is None:
                break
            found, mapping = step
    return (found, score_) if score_ > best + 1e-12 else (current, best)


# -- demos ----------------------------------------------------------------------------------
def demo_shot(call: dict[str, Any], answer: Any) -> dict[str, Any]:
    """A shot for ``llm.generate``'s ``shots`` input from one call's inputs and its answer."""
    shot = {k: to_jsonable(v) for k, v in call.items() if k not in ("shots", "choices", "images")}
    shot["answer"] = answer if isinstance(answer, str) else json.dumps(to_jsonable(answer))
    return shot


class _Capture(Plan):
    """A plan that keeps the inputs and answer of one node's calls, per row."""

    node: str
    store: dict[int, tuple[dict[str, Any], Any]]

    @classmethod
    def of(cls, plan: Plan, node: str, store: dict[int, tuple[dict[str, Any], Any]]) -> _Capture:
        captured = cls.__new__(cls)
        captured.__dict__.update(plan.__dict__)
        captured.node, captured.store = node, store
        return captured

    async def _call(self, step: Step, call: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        result = await super()._call(step, call, ctx)
        if step.name == self.node:
            self.store[_row.get()] = (call, result.get("text", result.get("output")))
        return result


def capture(graph: Any, rows: list[Any], node: str, concurrency: int = 16
            ) -> list[tuple[dict[str, Any] | None, dict[str, Any], Any]]:
    """Per row: ``(outputs or None, pass-through columns, (inputs, answer) of ``node`` or None)``."""
    from ..runner import split_row

    store: dict[int, tuple[dict[str, Any], Any]] = {}
    plan = _Capture.of(graph.plan(), node, store)

    async def go() -> list[Any]:
        ctx = RunContext(concurrency * 4)
        sem = asyncio.Semaphore(concurrency)

        async def one(i: int, row: Any) -> Any:
            given, extras = split_row(graph, row)
            async with sem:
                _row.set(i)
                try:
                    if isinstance(given, Exception):
                        raise given
                    return await plan.arun(graph.prepare_inputs(given), ctx), extras
                except Exception:
                    return None, extras

        return await asyncio.gather(*(one(i, r) for i, r in enumerate(rows)))

    results = asyncio.run(go())
    return [(out, extras, store.get(i)) for i, (out, extras) in enumerate(results)]


def bootstrap_demos(trials: Trials, knob: Knob, current: dict[str, Any], best: float,
                    rng: random.Random) -> tuple[dict[str, Any], float]:
    """Demos from correctly answered training rows; ``values`` sizes x ``candidates`` draws."""
    spec = trials.spec
    graph = trials.build(current)
    pool = []
    for outputs, extras, call in capture(graph, trials.rows["train"], knob.node or "", trials.concurrency):
        if outputs is None or call is None:
            continue
        if score(spec.metric, outputs.get(spec.output or ""), extras.get(spec.target)) == 1.0:
            pool.append(demo_shot(*call))
    chosen = current
    base = f"nodes.{knob.node}"
    for k in knob.values:
        if k == 0 or k > len(pool):
            continue
        for draw in range(knob.candidates):
            if trials.over_budget():
                return chosen, best
            shots = rng.sample(pool, k)
            candidate = {**current, f"{base}.few_shot": True, f"{base}.shots": shots}
            ev = trials.evaluate(candidate, "train")
            trials.note(f"{base}.shots", {"demos": k, "draw": draw}, "train", ev)
            if ev.metric > best + 1e-12:
                best, chosen = ev.metric, candidate
    return chosen, best
