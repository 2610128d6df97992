"""Distillation plumbing: a graph's `run --out` file is the training data of `socratic train`
(dotted columns outputs.image / outputs.caption); the bridge it trains runs as a caption.generate
node in the same graph, beside the pipeline it learned from. (What it learns is measured by the
demo's distillation step, on the trained demo CLIP; here, 8 steps of tiny models.)"""

from __future__ import annotations

import json

from socratic.cli import main

from .world import write_world

PIPELINE = """\
name: name-then-caption
inputs: {image: image}
models:
  clip: {backend: shapes_clip, model: shapes, disk_cache: false}
nodes:
  name:
    type: clip.classify
    model: clip
    templates: ["a {}"]
    image: ${inputs.image}
    classes: [red circle, red square, red triangle, green circle, green square, green triangle,
              blue circle, blue square, blue triangle, yellow circle, yellow square, yellow triangle]
  caption: {type: text.template, template: "a {{ name }}", name: "${name.label}"}
outputs:
  caption: ${caption.output}
  image: ${inputs.image}
"""

TRAIN = """\
task: bridge
vision: {backend: open_clip, model: "CLIP_DIR"}
bridge: {type: clipcap, mapping: mlp, prefix_length: 2}
lm: {path: LM_DIR, tune: full}
data: {train: ./captions.jsonl, image_column: outputs.image, caption_column: outputs.caption}
train: {output_dir: ./run, max_steps: 8, batch_size: 8, lr: 2.0e-3, warmup_steps: 2, eval_every: 0,
        save_every: 0, progress_bar: false, tensorboard: false, cpu: true, seed: 0}
"""


def test_a_run_out_file_trains_a_bridge_that_runs_beside_its_teacher(tmp_path, capsys, shapes_backend):
    from socratic.adapters.synthetic import all_captions

    from socratic.testing import make_tiny_lm, make_tiny_open_clip, train_tokenizer

    world = write_world(tmp_path / "w", n_train=24, n_dev=4).parent
    (world / "pipeline.yaml").write_text(PIPELINE)
    assert main(["run", str(world / "pipeline.yaml"), "--data", str(world / "train.jsonl"), "--out",
                 str(world / "captions.jsonl"), "--no-progress", "--no-cache"]) == 0
    records = [json.loads(x) for x in (world / "captions.jsonl").read_text().splitlines()]
    assert len(records) == 24 and all(r["outputs"]["caption"].startswith("a ") for r in records)

    clip = make_tiny_open_clip(tmp_path / "clip", embed_dim=32)
    tok = train_tokenizer(all_captions(1), chat_template=None)
    lm = make_tiny_lm(tmp_path / "lm", "gpt2", tokenizer=tok)
    (world / "train.yaml").write_text(TRAIN.replace("CLIP_DIR", clip.local_dir).replace("LM_DIR", str(lm)))
    assert main(["train", str(world / "train.yaml")]) == 0
    bridge = world / "run" / "bridge"
    assert bridge.is_dir()
    log = capsys.readouterr()
    assert "24" in log.out + log.err  # every record of the run --out file was read

    both = PIPELINE.replace("  clip: {backend", f"  bridge: {{backend: bridge, path: {bridge}}}\n  clip: {{backend")
    both = both.replace("outputs:\n", "  student: {type: caption.generate, model: bridge, max_new_tokens: 6,"
                                      " image: \"${inputs.image}\"}\noutputs:\n  student: ${student.caption}\n")
    (world / "both.yaml").write_text(both)
    assert main(["validate", str(world / "both.yaml")]) == 0
    assert main(["run", str(world / "both.yaml"), "--data", str(world / "dev.jsonl"), "--out",
                 str(world / "both.jsonl"), "--no-progress", "--no-cache"]) == 0
    out = [json.loads(x)["outputs"] for x in (world / "both.jsonl").read_text().splitlines()]
    assert len(out) == 4 and all(isinstance(o["student"], str) and o["caption"] for o in out)
