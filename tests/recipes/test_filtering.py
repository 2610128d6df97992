"""Data filters and CapFilt as graph nodes: rows are dropped with a reason, counted per reason,
and kept rows carry on; scores are recomputed independently."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from socratic.cli import main
from socratic.errors import RowDropped
from socratic.recipes.filtering import CapFilt, ClipScoreFilter, Deduplicate, ImageFilter, TextFilter
from socratic.spec import load_graph_text
from socratic.types import Image as Img


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    from socratic.testing import make_tiny_open_clip
    from socratic.vision.clip_open import OpenClipModel

    tiny = make_tiny_open_clip(tmp_path_factory.mktemp("clip"))
    return OpenClipModel(model=tiny.local_dir, disk_cache=False)


def _png(path: Path, size=(40, 30), color="red") -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)
    return str(path)


@pytest.mark.parametrize(("text", "reason"), [
    ("circle", "1 words (at least 2)"),
    ("https://example.com/cat.jpg", "the caption is a URL"),
    ("sale sale sale sale now", "'sale' is 80% of the words"),
    ("12345 67890 !!!", "letters (at least 50%)"),
])
def test_text_rules_say_why(text, reason):
    with pytest.raises(RowDropped, match=reason.replace("(", r"\(").replace(")", r"\)")):
        TextFilter().run(text=text)
    assert TextFilter().run(text="a red circle above a blue square")["text"].startswith("a red")


def test_image_rules_read_the_header(tmp_path):
    node = ImageFilter(min_side=32, max_aspect=2.0)
    assert node.run(image=Img(_png(tmp_path / "ok.png", (40, 32))))["width"] == 40
    with pytest.raises(RowDropped, match=r"20x40 \(shorter side at least 32\)"):
        node.run(image=Img(_png(tmp_path / "small.png", (20, 40))))
    with pytest.raises(RowDropped, match="aspect 3.0"):
        node.run(image=Img(_png(tmp_path / "wide.png", (120, 40))))


def test_dedup_by_pixels_and_by_embedding(tmp_path):
    d = Deduplicate(by="pixels")
    a, b = _png(tmp_path / "a.png"), _png(tmp_path / "b.jpg".replace(".jpg", ".png"), color="blue")
    Image.open(a).save(tmp_path / "a_copy.png")  # another file, the same pixels
    d.run(image=Img(a))
    d.run(image=Img(b))
    with pytest.raises(RowDropped, match="the same pixels as .*a.png"):
        d.run(image=Img(str(tmp_path / "a_copy.png")))
    e = Deduplicate(by="embedding", threshold=0.9)
    e.run(image=None, embedding=[1, 0, 0])
    e.run(image=None, embedding=[0, 1, 0])
    with pytest.raises(RowDropped, match="near duplicate"):
        e.run(image=None, embedding=[0.99, 0.1, 0])


def test_clip_score_and_capfilt_thresholds_are_exact(tiny_clip, tmp_path):
    img = Img(_png(tmp_path / "x.png"))
    texts = ["a red circle", "a blue square", "a green triangle"]
    cos = (tiny_clip.embed_texts(texts) @ tiny_clip.embed_images([img])[0]).tolist()
    middle = sorted(cos)[1]
    kept = CapFilt(tiny_clip, threshold=middle - 1e-5).run(image=img, web=texts[0], synthetic=[*texts[1:], " a blue square "])
    assert kept["candidates"] == texts  # the web caption first, synthetic ones stripped and unique
    assert kept["kept"] == [t for t, c in zip(texts, cos, strict=True) if c >= middle - 1e-5]
    assert kept["scores"] == pytest.approx(cos, abs=1e-6)
    with pytest.raises(RowDropped, match="no caption scored"):
        CapFilt(tiny_clip, threshold=max(cos) + 0.01).run(image=img, synthetic=texts)
    node = ClipScoreFilter(tiny_clip, threshold=cos[0] - 1e-5)
    assert node.run(image=img, text=texts[0])["score"] == pytest.approx(cos[0], abs=1e-6)
    with pytest.raises(RowDropped, match="filter.clip_score"):
        ClipScoreFilter(tiny_clip, threshold=cos[0] + 1e-3).run(image=img, text=texts[0])


def test_a_filter_graph_over_data_counts_drops_by_reason(tiny_clip, tmp_path, capsys):
    rows = [{"image": _png(tmp_path / "img" / f"{i}.png", color=c), "caption": t, "id": i}
            for i, (c, t) in enumerate([("red", "a red circle"), ("red", "a red circle"),
                                        ("blue", "x"), ("green", "https://a.b/c.png")])]
    data = tmp_path / "rows.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    graph = tmp_path / "g.yaml"
    graph.write_text(
        "inputs: {image: image, caption: str}\n"
        "nodes:\n"
        "  text: {type: filter.text, text: '${inputs.caption}'}\n"
        "  dedup: {type: filter.dedup, image: '${inputs.image}', by: pixels}\n"
        "  both: {type: text.template, template: '{{ t }} {{ k }}', t: '${text.text}', k: '${dedup.key}'}\n"
        "outputs: {text: '${text.text}', key: '${dedup.key}', both: '${both.output}'}\n")
    out = tmp_path / "out.jsonl"
    assert main(["run", str(graph), "--data", str(data), "--out", str(out), "--no-progress",
                 "--concurrency", "1"]) == 0  # dropping is not failing
    summary = json.loads(capsys.readouterr().out)
    assert summary == {"rows": 4, "done": 1, "failed": 0, "skipped": 0, "dropped": 3}
    recs = [json.loads(x) for x in out.read_text().splitlines()]
    assert [("dropped" in r, r["id"]) for r in recs] == [(False, 0), (True, 1), (True, 2), (True, 3)]
    assert "the same pixels as" in recs[1]["dropped"] and "the caption is a URL" in recs[3]["dropped"]
    # a resumed run does not try dropped rows again
    assert main(["run", str(graph), "--data", str(data), "--out", str(out), "--no-progress"]) == 0
    assert json.loads(capsys.readouterr().out)["skipped"] == 4


def test_itm_head_filters_through_the_real_blip_retrieval_model(tmp_path):
    from socratic.testing import make_tiny_captioner
    from socratic.vision.itm import HFImageTextMatcher

    path = make_tiny_captioner(tmp_path / "itm", "blip_itm")
    img = Img(_png(tmp_path / "x.png"))
    itm = HFImageTextMatcher(model=str(path), device="cpu")
    scores = itm.match_scores([img], [["a red cat", "a dog on grass"]])[0]
    assert all(0 <= s <= 1 for s in scores) and scores[0] != scores[1]
    g = load_graph_text(
        f"inputs: {{image: image}}\nmodels:\n  itm: {{backend: hf_itm, model: '{path}'}}\n"
        "nodes:\n  f: {type: filter.captions, model: itm, threshold: " + str(min(scores)) + ","
        " image: '${inputs.image}', synthetic: ['a red cat', 'a dog on grass']}\n"
        "outputs: {kept: '${f.kept}'}\n", "g.yaml")
    assert g.run(image=img)["kept"] == ["a red cat", "a dog on grass"]
    with pytest.raises(Exception, match="needs a image_text model"):
        load_graph_text(
            "inputs: {image: image}\nmodels:\n  llm: {backend: replay, path: r.jsonl}\n"
            "nodes:\n  f: {type: filter.captions, model: llm, threshold: 0.5, image: '${inputs.image}',"
            " synthetic: [a]}\noutputs: {kept: '${f.kept}'}\n", "g.yaml")
    assert np.isfinite(scores).all()
