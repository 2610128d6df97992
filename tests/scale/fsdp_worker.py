"""Run under ``torchrun --nproc_per_node 2``: a LoRA run sharded with FSDP2 straight to the end
(``OUT/full``), and the same run stopped after step 5 and resumed (``OUT/part``). The main
process writes the whole trained weights of each to ``OUT/<run>/weights.safetensors``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from socratic.adapters.runs import build_lora_run
from socratic.adapters.tasks import load_training_config


def main(config: str, out: str) -> None:
    import torch

    torch.set_num_threads(1)
    results = {}
    for name, stops in (("full", [None]), ("part", [5, None])):
        for stop in stops:
            cfg = load_training_config(config, [f"train.output_dir={out}/{name}"])
            trainer, _ = build_lora_run(cfg)
            shard = next(p for p in trainer.model.parameters() if p.requires_grad)
            results[f"{name}_local_numel_rank{trainer.rank}"] = shard.to_local().numel()
            results[f"{name}_full_numel"] = shard.numel()
            result = trainer.fit(stop_after=stop)
        weights = trainer.trainable_state()  # a collective: every rank
        if trainer.is_main:
            from safetensors.torch import save_file

            save_file({k: v.contiguous() for k, v in weights.items()}, f"{out}/{name}/weights.safetensors")
            results[name] = {k: v for k, v in result.items() if isinstance(v, (int, float, str))}
    Path(out, f"results_rank{trainer.rank}.json").write_text(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
