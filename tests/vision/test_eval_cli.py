"""``socratic eval`` end to end on tiny models: the figures match a direct computation."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image as PILImage

from socratic.cli import main
from socratic.eval.retrieval import retrieval_scores
from socratic.vision.clip_open import OpenClipModel


@pytest.fixture(scope="module")
def folder(tmp_path_factory, real_images):
    root = tmp_path_factory.mktemp("classes")
    for i, p in enumerate(real_images[:6]):
        d = root / ("even" if i % 2 == 0 else "odd")
        d.mkdir(exist_ok=True)
        PILImage.open(p).save(d / f"{i}.png")
    return root


def graph_file(tmp_path, tiny_open_clip):
    g = tmp_path / "zs.yaml"
    g.write_text(f"""
inputs:
  image: image
  classes: {{type: "list[str]", default: [even, odd]}}
models:
  clip: {{backend: open_clip, model: {tiny_open_clip["arch"]}, pretrained: {tiny_open_clip["checkpoint"]}}}
nodes:
  zs: {{type: clip.classify, model: clip, image: "${{inputs.image}}", classes: "${{inputs.classes}}"}}
outputs: {{label: "${{zs.label}}", ranked: "${{zs.ranked}}"}}
""")
    return g


def test_eval_classify_folder(tmp_path, tiny_open_clip, folder, capsys):
    g = graph_file(tmp_path, tiny_open_clip)
    out = tmp_path / "res"
    assert main(["eval", "classify", str(g), "--data", str(folder), "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    report = json.loads((out / "results.json").read_text())
    preds = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    acc = np.mean([p["prediction"] == p["label"] for p in preds])
    assert summary["top1"] == pytest.approx(acc) == pytest.approx(report["top1"])
    assert report["n"] == 6 and (out / "per_class_accuracy.png").stat().st_size > 1000


def test_eval_retrieval_matches_direct_recall(tmp_path, tiny_open_clip, real_images, capsys):
    data = tmp_path / "caps.jsonl"
    caps = [["a photo of an astronaut", "a person in a suit"], ["a camera man"], ["a cat"], ["coffee"]]
    with data.open("w") as f:
        for p, c in zip(real_images[:4], caps, strict=True):
            f.write(json.dumps({"image": str(p), "captions": c}) + "\n")
    g = graph_file(tmp_path, tiny_open_clip)
    out = tmp_path / "ret"
    assert main(["eval", "retrieval", str(g), "--data", str(data), "--out", str(out)]) == 0
    report = json.loads((out / "results.json").read_text())
    clip = OpenClipModel(model=tiny_open_clip["arch"], pretrained=tiny_open_clip["checkpoint"])
    flat = [c for cs in caps for c in cs]
    owner = [i for i, cs in enumerate(caps) for _ in cs]
    sim = clip.embed_images([str(p) for p in real_images[:4]]) @ clip.embed_texts(flat).T
    expected = retrieval_scores(sim, owner)
    assert {k: report[k] for k in expected} == pytest.approx(expected)
    assert (out / "retrieval_grid.png").exists()


def test_eval_needs_the_right_outputs(tmp_path, tiny_open_clip, folder, capsys):
    g = tmp_path / "nolabel.yaml"
    g.write_text("inputs: {image: image}\nnodes:\n  t: {type: text.template, template: x}\noutputs: {x: '${t.output}'}\n")
    assert main(["eval", "classify", str(g), "--data", str(folder), "--out", str(tmp_path / "o")]) == 2
    assert "has no 'label' output" in capsys.readouterr().err


def test_eval_caption_matches_direct_scores(tmp_path, tiny_blip, real_images, capsys):
    from socratic.eval.caption_metrics import caption_scores
    from socratic.vision.captioner import HFCaptioner

    data = tmp_path / "caps.jsonl"
    refs = [["a man in a suit"], ["a man with a camera"], ["a cat on a table"]]
    with data.open("w") as f:
        for p, r in zip(real_images[:3], refs, strict=True):
            f.write(json.dumps({"image": str(p), "captions": r}) + "\n")
    g = tmp_path / "cap.yaml"
    g.write_text(f"""
inputs: {{image: image}}
models:
  blip: {{backend: hf_captioner, model: {tiny_blip}}}
nodes:
  c: {{type: caption.generate, model: blip, image: "${{inputs.image}}", max_new_tokens: 8}}
outputs: {{caption: "${{c.caption}}"}}
""")
    out = tmp_path / "capres"
    assert main(["eval", "caption", str(g), "--data", str(data), "--out", str(out)]) == 0
    report = json.loads((out / "results.json").read_text())
    hyps = [c[0] for c in HFCaptioner(model=str(tiny_blip)).caption(real_images[:3], max_new_tokens=8)]
    assert {k: report[k] for k in ("BLEU-4", "ROUGE-L", "CIDEr")} == pytest.approx(
        {k: v for k, v in caption_scores(refs, hyps).items() if k in ("BLEU-4", "ROUGE-L", "CIDEr")})


def test_run_once_then_score_the_predictions_file(tmp_path, tiny_open_clip, folder, capsys):
    """`run --data --out` then `eval --predictions`: the same figures as a graph run by eval."""
    from socratic.eval.readers import read_image_folder

    g = graph_file(tmp_path, tiny_open_clip)
    rows = tmp_path / "rows.jsonl"
    with rows.open("w") as f:
        for i, r in enumerate(read_image_folder(folder)):
            f.write(json.dumps({"image": str(r["image"]), "label": r["label"], "id": f"r{i}"}) + "\n")
    preds = tmp_path / "preds.jsonl"
    assert main(["run", str(g), "--data", str(rows), "--out", str(preds), "--no-progress"]) == 0
    recs = [json.loads(x) for x in preds.read_text().splitlines()]
    assert all(r["label"] and r["id"] for r in recs)  # the extra columns travelled through
    assert main(["eval", "classify", str(g), "--data", str(rows), "--out", str(tmp_path / "a")]) == 0
    by_graph = json.loads((tmp_path / "a" / "results.json").read_text())
    for key in ([], ["--key", "id"]):
        assert main(["eval", "classify", "--predictions", str(preds), "--data", str(rows),
                     "--out", str(tmp_path / "b"), *key]) == 0
        from_file = json.loads((tmp_path / "b" / "results.json").read_text())
        assert {k: from_file[k] for k in ("n", "top1", "top5")} == {k: by_graph[k] for k in ("n", "top1", "top5")}
    capsys.readouterr()
    preds.write_text("\n".join(json.dumps(r) for r in recs[:-1]) + "\n")  # one row lost
    assert main(["eval", "classify", "--predictions", str(preds), "--data", str(rows),
                 "--out", str(tmp_path / "c"), "--key", "id"]) == 0
    report = json.loads((tmp_path / "c" / "results.json").read_text())
    assert report["n"] == len(recs) - 1 and "no prediction for row 5 (id 'r5')" in report["failed"][0]["error"]


def test_caption_eval_writes_rows_a_plot_and_no_bleu_noise(tmp_path, real_images, capsys, monkeypatch):
    data = tmp_path / "caps.jsonl"
    preds = tmp_path / "preds.jsonl"
    with data.open("w") as f, preds.open("w") as p:
        for i, (im, ref, hyp) in enumerate(zip(real_images[:3], ["red", "blue", "green"], ["red", "blue", "pink"],
                                               strict=True)):
            f.write(json.dumps({"image": str(im), "captions": [ref]}) + "\n")
            p.write(json.dumps({"index": i, "outputs": {"caption": hyp}}) + "\n")
    out = tmp_path / "res"
    assert main(["eval", "caption", "--predictions", str(preds), "--data", str(data), "--out", str(out)]) == 0
    report = json.loads((out / "results.json").read_text())
    assert report["BLEU-1"] == pytest.approx(2 / 3) and report["BLEU-4"] is None  # one-word answers
    rows = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert [r["prediction"] for r in rows] == ["red", "blue", "pink"] and rows[0]["references"] == ["red"]
    assert (out / "captions.png").stat().st_size > 1000
    monkeypatch.setitem(__import__("sys").modules, "matplotlib", None)  # the plots extra is missing
    capsys.readouterr()
    assert main(["eval", "caption", "--predictions", str(preds), "--data", str(data), "--out",
                 str(tmp_path / "noplots")]) == 0
    assert "needs the 'plots' extra: pip install 'socratic-vl[plots]'" in capsys.readouterr().err
    assert json.loads((tmp_path / "noplots" / "results.json").read_text())["plots"] == []


def test_eval_classify_reports_descriptors_beside_class_names_and_controls(tmp_path, tiny_open_clip, folder,
                                                                            capsys):
    desc = tmp_path / "descriptors.json"
    desc.write_text(json.dumps({"even": ["a round shape", "has two halves"], "odd": ["one left over"]}))
    g = tmp_path / "desc.yaml"
    g.write_text(f"""
inputs: {{image: image}}
models:
  clip: {{backend: open_clip, model: {tiny_open_clip["arch"]}, pretrained: {tiny_open_clip["checkpoint"]}}}
nodes:
  load: {{type: descriptors.load, path: {desc}}}
  c: {{type: clip.descriptor_classify, model: clip, image: "${{inputs.image}}", classes: "${{load.classes}}",
       descriptors: "${{load.descriptors}}"}}
outputs: {{label: "${{c.label}}", baseline_label: "${{c.baseline_label}}", random_label: "${{c.random_label}}",
          ensemble_label: "${{c.ensemble_label}}", contributions: "${{c.contributions}}"}}
""")
    out = tmp_path / "res"
    assert main(["eval", "classify", str(g), "--data", str(folder), "--out", str(out)]) == 0
    report = json.loads((out / "results.json").read_text())
    assert list(report["variants"]) == ["label", "baseline_label", "ensemble_label", "random_label"]
    assert report["variants"]["label"] == pytest.approx(report["top1"])
    preds = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(preds) == report["n"] == 6
    assert (out / "variants.png").exists() and (out / "descriptor_contributions.png").exists()
    assert "variants" in json.loads(capsys.readouterr().out)
