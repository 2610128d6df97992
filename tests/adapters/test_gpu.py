"""GPU checks (run by bench/gpu.sh; deselected by default): bf16 / fp16 training on CUDA."""

from __future__ import annotations

import pytest
import torch

from .conftest import BRIDGES, run_config

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_clipcap_trains_on_cuda_with_mixed_precision(tiny, tmp_path, precision):
    from socratic.adapters.io import load_bridge
    from socratic.adapters.runs import run

    cfg = run_config(tiny, tmp_path, BRIDGES["clipcap_mlp"],
                     train={"cpu": False, "mixed_precision": precision})
    result = run(cfg)
    assert result["exact_match"] >= 0.6, result
    vlm = load_bridge(tmp_path / "bridge", device="cuda")
    out = vlm.generate([s.image for s in tiny.held_out[:4]], max_new_tokens=12)
    assert len(out) == 4 and all(o[0] for o in out)


def test_qformer_trains_on_cuda_bf16(tiny, tmp_path):
    from socratic.adapters.runs import run

    cfg = run_config(tiny, tmp_path, BRIDGES["qformer"],
                     train={"cpu": False, "mixed_precision": "bf16"})
    assert run(cfg)["exact_match"] >= 0.6
