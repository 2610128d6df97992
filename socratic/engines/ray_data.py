"""Data files as a ``ray.data.Dataset`` of rows numbered as the local engine numbers them.

:func:`read_rows` cuts a source into counted parts (:func:`socratic.datasets.plan_parts`), one
Ray read task each, so every row keeps its position in the file (``index``), a bad line is that
row's error (never a failed read), and image paths are made absolute exactly as
``socratic run --data`` does. Rows whose id is in ``skip`` (finished by an earlier run) are
left out by the read tasks themselves.

Example:
    >>> ds = read_rows("rows.jsonl", rows_per_part=10_000)   # doctest: +SKIP
    >>> run_dataset(graph, ds).write_parquet("results/")     # doctest: +SKIP
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from ..datasets import Part, plan_parts, read_part
from ..errors import DataError
from ..runner import RESERVED, error_result
from .payload import INDEX, STATE


def read_rows(path: str | os.PathLike[str], format: str = "auto", *, rows_per_part: int = 2000,
              resolve: Sequence[str] = ("image",), skip: Iterable[Any] = (), id_key: str | None = None,
              inputs: Iterable[str] = ()) -> Any:
    """A dataset of the rows of a data file or folder (see the module docstring): columns
    ``_socratic_index`` and ``_socratic_state`` (the pickled row), for
    :func:`socratic.engines.run_dataset`. ``skip``: row ids to leave out (``id_key`` column,
    else index; ``inputs``: the graph's input names, which are never ids)."""
    from ..extras import require

    ray = require("ray", "ray", "reading rows with Ray")
    parts = plan_parts(path, format, rows_per_part=rows_per_part)
    skip = frozenset(skip)
    ref = ray.put(skip) if skip else None
    source = _RowsDatasource(parts, tuple(resolve), ref, id_key, frozenset(inputs))
    return ray.data.read_datasource(source, override_num_blocks=len(parts))


def count_rows(parts: list[Part]) -> int:
    return sum(p.rows or 0 for p in parts)


def _datasource_base() -> type:
    from ..extras import require

    return require("ray.data", "ray", "reading rows with Ray").Datasource


class _RowsDatasource(_datasource_base()):  # type: ignore[misc]
    """One read task per part; blocks of ``(_socratic_index, _socratic_state)``."""

    def __init__(self, parts: list[Part], resolve: tuple[str, ...], skip: Any, id_key: str | None,
                 inputs: frozenset[str]) -> None:
        super().__init__()
        self.parts, self.resolve, self.skip, self.id_key, self.inputs = parts, resolve, skip, id_key, inputs

    def get_name(self) -> str:
        return "SocraticRows"

    def estimate_inmemory_data_size(self) -> int | None:
        return count_rows(self.parts) * 256

    def get_read_tasks(self, parallelism: int, per_task_row_limit: int | None = None,
                       data_context: Any = None) -> list[Any]:
        import pyarrow as pa
        from ray.data import ReadTask
        from ray.data.block import BlockMetadata

        schema = pa.schema([(INDEX, pa.int64()), (STATE, pa.binary())])
        tasks = []
        for part in self.parts:
            meta = BlockMetadata(num_rows=part.rows, size_bytes=(part.rows or 0) * 256,
                                 input_files=[part.path], exec_stats=None)
            reader = _Reader(part, self.resolve, self.skip, self.id_key, self.inputs)
            tasks.append(ReadTask(reader, meta, schema=schema))
        return tasks


class _Reader:
    """The read function of one part (a class, so the part travels as data)."""

    def __init__(self, part: Part, resolve: tuple[str, ...], skip: Any, id_key: str | None,
                 inputs: frozenset[str]) -> None:
        self.part, self.resolve, self.skip, self.id_key, self.inputs = part, resolve, skip, id_key, inputs

    def __call__(self) -> Iterator[Any]:
        import pyarrow as pa

        skip: frozenset[Any] = frozenset()
        if self.skip is not None:
            import ray

            skip = ray.get(self.skip)
        index, blobs = [], []
        for i, row in enumerate(read_part(self.part, errors="yield", resolve=self.resolve),
                                start=self.part.index or 0):
            if skip and self._row_id(i, row) in skip:
                continue
            item = ("error", error_result(row)) if isinstance(row, DataError) else ("row", row)
            index.append(i)
            blobs.append(pickle.dumps(item))
        yield pa.table({INDEX: pa.array(index, pa.int64()), STATE: pa.array(blobs, pa.binary())})

    def _row_id(self, index: int, row: Any) -> Any:
        key = self.id_key
        if not key or isinstance(row, DataError) or key in self.inputs or key in RESERVED:
            return index
        return row.get(key, index) if isinstance(row, dict) else index
