"""The Ray engine: a graph over a dataset on Ray Data, interchangeable with the local engine.

The graph is cut into stages (:mod:`socratic.engines.stages`); each stage is one
``map_batches`` operator: a model stage is an actor pool (``ActorPoolStrategy``; every actor
builds the stage's model from its ``models:`` entry and loads it once, in its constructor, with
the resources of that entry), light nodes run in plain tasks that Ray fuses with the read.
Rows are read by parallel tasks (:func:`~socratic.engines.ray_data.read_rows`) and the result
records stream back to the driver, which writes them exactly as the local engine does (JSONL
file or Parquet folder, resumable, with the same summary).

Python:

    >>> import ray
    >>> from socratic.engines import run_dataset
    >>> ds = ray.data.read_parquet("rows/")                      # doctest: +SKIP
    >>> run_dataset(graph, ds).write_parquet("results/")         # doctest: +SKIP

Command line: ``socratic run GRAPH.yaml --data rows.jsonl --out out.jsonl --engine ray
[--ray-address auto|HOST:PORT]`` (no address: a local cluster on this machine's CPUs).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import pickle
from collections.abc import AsyncIterator, Iterable
from typing import Any

from ..errors import SocraticError
from ..extras import require
from .payload import INDEX, RECORD, RESULT, STATE, StagePayload, StageRunner
from .stages import StagePlan, fit_resources, plan_stages

#: environment the driver passes on to workers of a cluster it connects to
PASSED_ENV = ("SOCRATIC_CACHE_DIR", "SOCRATIC_NO_CACHE", "SOCRATIC_PROMPTS_PATH", "HF_HUB_OFFLINE",
              "TRANSFORMERS_OFFLINE", "HF_HOME", "OPENAI_BASE_URL")

log = logging.getLogger("socratic.engines.ray")


def connect(address: str | None = None, *, num_cpus: int | None = None) -> Any:
    """Ray, initialised: joined to the cluster at ``address`` (``auto``: the one ``ray start``
    began on this machine), or a new local cluster (``num_cpus``: its size, default every CPU).
    An already initialised Ray is used as it is."""
    ray = require("ray", "ray", "--engine ray")
    if ray.is_initialized():
        return ray
    env = {k: os.environ[k] for k in PASSED_ENV if os.environ.get(k)}
    # ERROR: not the note, at every start, that token authentication is on
    kwargs: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": True}
    if env:
        kwargs["runtime_env"] = {"env_vars": env}
    # no address: $RAY_ADDRESS (set by `ray job submit`), else a new local cluster; never the
    # cluster some earlier `ray start` on this machine left its address for (ray.init's default)
    address = address or os.environ.get("RAY_ADDRESS") or "local"
    kwargs["address"] = address
    if address == "local":
        kwargs.update(include_dashboard=False, num_cpus=num_cpus)
    try:
        ray.init(**kwargs)
    except ConnectionError as exc:
        raise SocraticError(f"could not join a Ray cluster at '{address}' ({exc}); start one with"
                            " `ray start --head`, or leave out --ray-address for a local cluster; a"
                            " cluster with token authentication (Ray's default) needs RAY_AUTH_MODE=token"
                            " and its token (~/.ray/auth_token or RAY_AUTH_TOKEN) here") from None
    quiet_logs()
    return ray


def quiet_logs() -> None:
    """Ray Data's per-run INFO lines off (importing ray.data sets its own levels), and its note
    that its progress bars are off (socratic shows its own)."""
    import ray.data  # noqa: F401

    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.WARNING)
    bars = logging.getLogger("ray.data._internal.progress")
    if not any(isinstance(f, _NoBarsNote) for f in bars.filters):
        bars.addFilter(_NoBarsNote())


class _NoBarsNote(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Progress bars disabled")


class _ModelStage:
    """The actor class of a model stage: builds the stage (and loads its models) once."""

    def __init__(self, payload: StagePayload) -> None:
        self.stage: StageRunner = payload.build()

    def __call__(self, batch: Any) -> Any:
        return self.stage(batch)


_BUILT: dict[str, StageRunner] = {}


def _task_stage(batch: Any, payload: StagePayload) -> Any:
    """A task stage: built once per worker process, then reused."""
    stage = _BUILT.get(payload.key)
    if stage is None:
        if len(_BUILT) > 32:  # stages of runs long finished
            _BUILT.clear()
        stage = _BUILT[payload.key] = payload.build()
    return stage(batch)


class RayEngine:
    """Runs graphs on Ray Data (see the module docstring). ``address``: the cluster (``None``:
    a local one); ``rows_per_part``: rows per read task (default :func:`part_size`); ``progress``:
Ray's own progress bars.

    Example:
        >>> from socratic.runner import RowRunner
        >>> engine = RayEngine(num_cpus=2)
        >>> engine.name
        'ray'
        >>> RowRunner(graph, engine=engine).run("rows.jsonl", "out.jsonl")   # doctest: +SKIP
    """

    name = "ray"

    def __init__(self, address: str | None = None, *, num_cpus: int | None = None,
                 rows_per_part: int | None = None, progress: bool = False) -> None:
        self.address = address
        self.num_cpus = num_cpus
        self.rows_per_part = rows_per_part
        self.progress = progress
        self.warnings: list[str] = []
        self._started = False

    def connect(self) -> Any:
        ray = require("ray", "ray", "--engine ray")
        if not ray.is_initialized():
            connect(self.address, num_cpus=self.num_cpus)
            self._started = True
        return ray

    def close(self) -> None:
        """Shut down the local cluster this engine started (a joined cluster keeps running)."""
        if self._started:
            import ray

            ray.shutdown()
            self._started = False

    # -- the plan ---------------------------------------------------------------------------
    def plan(self, graph: Any) -> StagePlan:
        """The stage plan with default resources fitted to the connected cluster."""
        ray = self.connect()
        plan = plan_stages(graph)
        total = ray.cluster_resources()
        self.warnings = fit_resources(plan, float(total.get("CPU", 1)), float(total.get("GPU", 0)))
        for w in self.warnings:
            log.warning(w)
        return plan

    def pipeline(self, graph: Any, ds: Any, *, entry: str, exit: str, ordered: bool = False,
                 concurrency: int = 8) -> Any:
        """``ds`` (rows in the form ``entry`` names) through every stage; results as ``exit``
        names (see :mod:`socratic.engines.payload`)."""
        plan = self.plan(graph)
        ctx = ds.context
        ctx.enable_progress_bars = self.progress
        ctx.print_on_execution_start = False
        ctx.execution_options.preserve_order = ordered
        stages: list[Any] = list(plan.stages)
        if not stages or stages[0].models:
            stages.insert(0, None)  # an entry task, fused with the read
        for i, stage in enumerate(stages):
            first, last = i == 0, i == len(stages) - 1
            steps = [s for s in plan.steps if stage is not None and s.name in set(stage.nodes)]
            keeps = stage.keeps if stage is not None else {("inputs", n) for n in graph.inputs}
            batch = stage.resources.batch_size if stage is not None and stage.models else None
            payload = StagePayload.make(steps, keeps, max(concurrency, batch or 0), graph,
                                        entry=entry if first else None, exit=exit if last else None,
                                        load_models=bool(stage is not None and stage.models))
            if stage is not None and stage.models:
                r = stage.resources
                low, high = r.replicas
                compute = require("ray.data").ActorPoolStrategy(min_size=low, max_size=high)
                ds = ds.map_batches(_ModelStage, fn_constructor_kwargs={"payload": payload},
                                    compute=compute, batch_size=r.batch_size, batch_format="pyarrow",
                                    num_cpus=r.num_cpus, num_gpus=r.num_gpus or None)
            else:
                ds = ds.map_batches(_task_stage, fn_kwargs={"payload": payload}, batch_size=None,
                                    batch_format="pyarrow")
        return ds

    # -- the runner's seams -----------------------------------------------------------------
    async def results(self, graph: Any, items: Iterable[tuple[int, Any]], *, concurrency: int,
                      max_ahead: int | None = None) -> AsyncIterator[tuple[int, dict[str, Any]]]:
        """In-memory rows (already split by the runner) through the stages."""
        from ..runner import error_result

        ray = self.connect()
        import pyarrow as pa

        index, blobs = [], []
        for i, given in items:
            index.append(i)
            item = ("error", error_result(given)) if isinstance(given, BaseException) else ("given", given)
            blobs.append(pickle.dumps(item))
        if not index:
            return
        size = max(1, -(-len(index) // 64))
        tables = [pa.table({INDEX: pa.array(index[s:s + size], pa.int64()),
                            STATE: pa.array(blobs[s:s + size], pa.binary())})
                  for s in range(0, len(index), size)]
        ds = self.pipeline(graph, ray.data.from_arrow(tables), entry="given", exit="result",
                           ordered=max_ahead is not None, concurrency=concurrency)
        async for batch in _batches(ds):
            blobs = batch.column(RESULT).to_pylist()
            for i, blob in zip(batch.column(INDEX).to_pylist(), blobs, strict=True):
                yield i, pickle.loads(blob)

    async def records(self, runner: Any, data: str | os.PathLike[str], *, format: str,
                      skip: set[Any]) -> AsyncIterator[dict[str, Any]]:
        """The result records of a data file or folder, read by parallel tasks."""
        from ..datasets import plan_parts
        from ..runner import image_inputs
        from .ray_data import count_rows, read_rows

        self.connect()
        size = self.rows_per_part or part_size(plan_stages(runner.graph))
        runner.summary.rows = count_rows(plan_parts(data, format, rows_per_part=size))
        ds = read_rows(data, format, rows_per_part=size, resolve=image_inputs(runner.graph),
                       skip=skip, id_key=runner.id_key, inputs=runner.graph.inputs)
        ds = self.pipeline(runner.graph, ds, entry="raw", exit="json", ordered=runner.ordered,
                           concurrency=runner.concurrency)
        async for batch in _batches(ds):
            for text in batch.column(RECORD).to_pylist():
                yield json.loads(text)


def part_size(plan: StagePlan) -> int:
    """Rows per read task: four batches of the largest model stage, 8 to 2000 (small enough that
    results stream back and a killed run loses little, large enough that per-task overhead
    does not starve the actors)."""
    batches = [s.resources.batch_size for s in plan.stages if s.models]
    return max(8, min(2000, 4 * max(batches, default=500)))


async def _batches(ds: Any) -> AsyncIterator[Any]:
    """The output batches of a dataset, pulled in a worker thread (the event loop stays free)."""
    it = iter(ds.iter_batches(batch_size=None, batch_format="pyarrow"))
    while True:
        batch = await asyncio.to_thread(next, it, None)
        if batch is None:
            return
        yield batch


def run_dataset(graph: Any, ds: Any, *, engine: RayEngine | None = None, concurrency: int = 8) -> Any:
    """``graph`` over a ``ray.data.Dataset``: a dataset of result rows, one per input row, with
    the columns of :func:`socratic.results.records_to_table` (``index`` for datasets from
    :func:`~socratic.engines.ray_data.read_rows`; every column that is not a graph input passes
    through; ``outputs`` as JSON text; ``error`` and ``node`` for failed rows). Lazy: nothing
    runs until the dataset is consumed (``write_parquet``, ``iter_rows`` ...).

    Example:
        >>> import ray
        >>> ds = ray.data.from_items([{"text": "hi", "id": 1}])              # doctest: +SKIP
        >>> run_dataset(graph, ds).take_all()                                # doctest: +SKIP
        [{'id': 1, 'outputs': '{"loud": "HI"}', 'error': None, 'node': None}]
    """
    engine = engine or RayEngine()
    entry = "raw" if set(ds.columns() or []) == {INDEX, STATE} else "columns"
    return engine.pipeline(graph, ds, entry=entry, exit="table", concurrency=concurrency)
