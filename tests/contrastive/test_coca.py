"""CoCa (Yu et al. 2022): trained with open_clip's contrastive + captioning loss on the shapes,
then one `models:` entry serves both a CLIP node and a captioning node in a YAML graph."""

from __future__ import annotations

from pathlib import Path

import pytest

from socratic.testing import write_open_clip_arch

from .conftest import make_config

pytestmark = pytest.mark.slow

SMALL = {"source": "shapes", "shapes": {"n_train": 1200, "n_val": 48, "n_objects": 1, "seed": 0,
                                         "image_size": 32}}


def test_coca_learns_to_caption_and_to_match_and_serves_both_kinds(tmp_path: Path) -> None:
    from socratic.adapters.contrastive import ContrastiveConfig, train_contrastive
    from socratic.adapters.synthetic import make_shapes_splits, write_shapes_jsonl

    from socratic.runner import RowRunner
    from socratic.spec import load_graph_text

    arch = write_open_clip_arch(tmp_path, "socratic-test-coca", coca=True)
    cfg = make_config(arch, tmp_path / "out", "uu", name="socratic-test-coca", loss={"kind": "coca"},
                      data=SMALL, train={"max_steps": 600, "batch_size": 48, "lr": 2e-3, "save_every": 0})
    cfg["data"]["caption_templates"] = ["{}"]  # exact captions to learn
    cfg["eval"]["templates"] = ["a {}"]  # zero-shot prompts in the captions' own form: "a red circle"
    # measured: zero-shot 0.958 (chance 0.091), exact match 0.938, train loss 16.6 at step 50,
    # 2.20 at 250, 1.53 at 600 (docs/adapters.md, CoCa)
    result = train_contrastive(ContrastiveConfig.model_validate(cfg))
    print(f"CoCa after 600 steps: zero-shot {result['zero_shot_acc']:.3f} (chance {result['zero_shot_chance']:.3f}),"
          f" greedy caption exact match {result['caption_exact_match']:.3f}, train loss {result['train_loss']:.3f}")
    assert result["zero_shot_acc"] > 3 * result["zero_shot_chance"]
    assert result["caption_exact_match"] >= 0.5, result  # "a red circle" for a red circle
    model_dir = Path(result["model_dir"])

    _, val = make_shapes_splits(4, 12, seed=5, n_objects=1, image_size=32)
    rows = write_shapes_jsonl(val, tmp_path / "val", "val.jsonl", prefix="v")
    graph = load_graph_text(
        "inputs: {image: image, classes: 'list[str]'}\n"
        f"models:\n  coca: {{backend: open_clip, model: 'local-dir:{model_dir}', disk_cache: false}}\n"
        "nodes:\n"
        "  cap: {type: caption.generate, model: coca, image: '${inputs.image}', max_new_tokens: 8}\n"
        "  zs: {type: clip.classify, model: coca, image: '${inputs.image}', classes: '${inputs.classes}',"
        " templates: ['a photo of a {}.']}\n"
        "outputs: {caption: '${cap.caption}', label: '${zs.label}'}\n", "coca.yaml")
    classes = sorted({s.caption.removeprefix("a ") for s in val})
    import json

    data = [json.loads(line) for line in Path(rows).read_text().splitlines()]
    records = RowRunner(graph).collect([{"image": str(Path(rows).parent / r["image"]), "classes": classes}
                                        for r in data])
    captions = [r["outputs"]["caption"] for r in records]
    right = sum(c == r["caption"] for c, r in zip(captions, data, strict=True))
    assert right >= len(data) // 2, captions
    assert sum(r["outputs"]["label"] == d["caption"].removeprefix("a ")
               for r, d in zip(records, data, strict=True)) > len(data) / len(classes)


def test_a_clip_is_not_a_captioner(tmp_path: Path) -> None:
    from socratic.errors import ValidationFailed
    from socratic.spec import load_graph_text
    from socratic.testing import make_tiny_open_clip

    tiny = make_tiny_open_clip(tmp_path / "clip")
    with pytest.raises(ValidationFailed, match="needs a captioner model, but 'clip' is a clip"):
        load_graph_text(f"inputs: {{image: image}}\nmodels:\n  clip: {{backend: open_clip, model: "
                        f"'{tiny.local_dir}'}}\nnodes:\n  cap: {{type: caption.generate, model: clip,"
                        " image: '${inputs.image}'}\noutputs: {c: '${cap.caption}'}\n", "g.yaml")
