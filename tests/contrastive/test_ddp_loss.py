"""The loss gathered over 2 ranks (gloo, CPU) equals the one-process loss on the same full batch,
and so do the DDP-averaged gradients of a small model (float64, to 1e-6)."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).parent
KINDS = ("clip_local", "clip_global", "ntxent_local", "ntxent_global")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp-loss")
    env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()), "WORLD_SIZE": "2",
           "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen([sys.executable, str(HERE / "ddp_check.py"), str(out)],
                         env={**env, "RANK": str(r), "LOCAL_RANK": str(r)},
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for r in range(2)
    ]
    logs = [p.communicate(timeout=120)[0] for p in procs]
    for p, log in zip(procs, logs, strict=True):
        assert p.returncode == 0, log[-3000:]
    return [torch.load(out / f"rank-{r}.pt", weights_only=False) for r in range(2)]


@pytest.fixture(scope="module")
def reference():
    spec = importlib.util.spec_from_file_location("ddp_check", HERE / "ddp_check.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.reference()


@pytest.mark.parametrize("kind", KINDS)
def test_gathered_loss_and_gradients_equal_the_full_batch(two_ranks, reference, kind):
    full_loss, full_grads = reference[kind]
    for rank_result in two_ranks:
        own_loss, mean_loss, grads = rank_result[kind]
        assert mean_loss == pytest.approx(full_loss, abs=1e-9)
        if kind.endswith("global"):  # every rank computes the whole loss matrix
            assert own_loss == pytest.approx(full_loss, abs=1e-9)
        assert set(grads) == set(full_grads)
        for name, g in grads.items():
            assert torch.allclose(g, full_grads[name], atol=1e-6, rtol=0), (kind, name, g, full_grads[name])
        assert any(float(g.abs().max()) > 1e-3 for g in grads.values())  # the check is not vacuous


def test_local_losses_differ_between_ranks(two_ranks):
    # each rank scores its own rows: different halves give different local losses
    assert two_ranks[0]["clip_local"][0] != pytest.approx(two_ranks[1]["clip_local"][0])
