"""Engines that run a graph over a dataset, behind :class:`socratic.runner.RowRunner`'s seam.

- ``local`` (:class:`socratic.runner.LocalEngine`): asyncio in this process; calls to batchable
  models grouped across rows.
- ``ray`` (:class:`RayEngine`, the ``ray`` extra): Ray Data; the graph cut into stages at model
  boundaries (:func:`plan_stages`), each model an actor pool, data read by parallel tasks.

Both give the same result records, error rows, pass-through columns and summary.

Example:
    >>> make_engine("local").name
    'local'
    >>> from socratic.spec import load_graph
    >>> print(plan_stages(load_graph("examples/fewshot_classification.yaml")).text())  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from .stages import StagePlan, fit_resources, plan_stages

ENGINES = ("local", "ray")


def make_engine(name: str, *, address: str | None = None, **options: Any) -> Any:
    """The engine called ``name`` (``address``: the Ray cluster, for ``ray``)."""
    if name == "local":
        from ..runner import LocalEngine

        return LocalEngine()
    if name == "ray":
        from .ray_engine import RayEngine

        return RayEngine(address, **options)
    raise ValueError(f"unknown engine {name!r}; engines: {', '.join(ENGINES)}")


def __getattr__(name: str) -> Any:
    if name in ("RayEngine", "run_dataset", "connect"):
        from . import ray_engine

        return getattr(ray_engine, name)
    if name == "read_rows":
        from .ray_data import read_rows

        return read_rows
    raise AttributeError(f"module 'socratic.engines' has no attribute {name!r}")


__all__ = ["ENGINES", "RayEngine", "StagePlan", "connect", "fit_resources", "make_engine", "plan_stages",
           "read_rows", "run_dataset"]
