"""One local Ray cluster per test session (``ray.init(num_cpus=2)``: the project's machines
have 2 cores; model stages are sized to leave a CPU for the read tasks), tiny models, and the
test helpers sent to Ray workers by value."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import ray

from socratic.engines.ray_engine import RayEngine, quiet_logs

from . import helpers

ray.cloudpickle.register_pickle_by_value(helpers)


@pytest.fixture(scope="session")
def ray_cluster():
    if not ray.is_initialized():
        # "local": a new cluster, never one that a `ray start` on this machine left behind
        ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.ERROR)
    quiet_logs()
    yield ray
    ray.shutdown()


@pytest.fixture
def ray_engine(ray_cluster) -> RayEngine:
    return RayEngine()


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory) -> str:
    """A tiny open_clip model as a folder: ``local-dir:PATH`` loads it in any process."""
    from socratic.testing import make_tiny_open_clip

    tiny = make_tiny_open_clip(tmp_path_factory.mktemp("ray-clip"), name="ray-tiny-vit", logit_scale=42.0,
                               vision={"head_width": 64}, text={"context_length": 77, "width": 64})
    return tiny.local_dir


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
