"""Vision recipes checked against values recomputed here from raw embeddings (tiny open_clip
with seeded random weights; real photos from scikit-image)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from socratic import Graph, Image
from socratic.errors import SocraticError
from socratic.nodes.clip import ClipClassify, ClipRank, Compose, EmbedImage, EmbedText
from socratic.prompt import load_prompt
from socratic.recipes.descriptors import (
    DescriptorClassify,
    descriptor_sentence,
    load_descriptors,
    save_descriptors,
)
from socratic.recipes.retrieval import Search
from socratic.recipes.socratic_caption import PEOPLE_COUNTS, SocraticEvidence
from socratic.vision.clip_open import OpenClipModel

DESCRIPTORS = {
    "astronaut": ["a white spacesuit", "has a helmet", "an american flag patch"],
    "cat": ["whiskers", "pointed ears", "often curled up"],
    "coffee": ["a white cup", "brown liquid", "used for drinking"],
}


@pytest.fixture(scope="module")
def clip(tiny_open_clip):
    return OpenClipModel(model=tiny_open_clip["arch"], pretrained=tiny_open_clip["checkpoint"],
                         batch_size=4)


@pytest.fixture(scope="module")
def images(real_images):
    return [Image(p) for p in real_images]


@pytest.mark.parametrize(
    ("descriptor", "sentence"),
    [
        ("antennae", "bee, which has antennae"),  # starts with "a" but is no article
        ("an orange coat", "bee, which is an orange coat"),
        ("A striped body", "bee, which is A striped body"),
        ("used for pollination", "bee, which is used for pollination"),
        ("has four wings", "bee, which has four wings"),
        ("often seen near flowers.", "bee, which often seen near flowers"),
        ("typically yellow", "bee, which typically yellow"),
        ("can sting", "bee, which can sting"),
        ("hasty flight", "bee, which has hasty flight"),  # "hasty" is not "has"
        ("may buzz", "bee, which may buzz"),
    ],
)
def test_descriptor_sentence_rules_first_word(descriptor, sentence):
    assert descriptor_sentence("bee", descriptor, rules="first_word") == sentence


@pytest.mark.parametrize(
    ("category", "descriptor", "sentence"),
    [  # the authors' load_gpt_descriptions, byte for byte
        ("trilobite", "antennae", "trilobite, which is antennae"),  # first *letter* 'a'
        ("harvestman", "arachnid", "harvestman, which is arachnid"),
        ("bee", "A striped body", "bee, which has A striped body"),  # case-sensitive
        ("bee", "hasty flight", "bee, which hasty flight"),  # startswith('has')
        ("bee", "often seen near flowers.", "bee, which often seen near flowers."),  # period kept
        ("bee", "used for pollination", "bee, which is used for pollination"),
        ("golden_retriever", "golden fur", "golden retriever, which has golden fur"),  # wordified
        ("bee", "", "bee, which has "),  # an empty descriptor list becomes one empty descriptor
    ],
)
def test_descriptor_sentence_rules_paper(category, descriptor, sentence):
    assert descriptor_sentence(category, descriptor) == sentence
    assert descriptor_sentence(category, descriptor, after_text=".") == sentence + "."  # ImageNet setting


def _reference_which(d: str) -> str:
    """make_descriptor_sentence of classify_by_description_release, restated."""
    if d.startswith("a") or d.startswith("an"):
        return f"which is {d}"
    if any(d.startswith(w) for w in ("has", "often", "typically", "may", "can")):
        return f"which {d}"
    return f"which is {d}" if d.startswith("used") else f"which has {d}"


def test_descriptor_scores_match_an_independent_computation(clip, images):
    node = DescriptorClassify(clip)
    classes = list(DESCRIPTORS)
    out = node.run_batch([{"image": im, "classes": classes, "descriptors": DESCRIPTORS} for im in images])
    img = clip.embed_images(images)
    for k, res in enumerate(out):
        expected = {}
        ensemble = {}
        for c in classes:
            sents = [f"{c.replace('_', ' ')}, {_reference_which(d)}" for d in DESCRIPTORS[c]]
            t = clip.embed_texts(sents)
            cos = [float(img[k] @ t[j]) for j in range(len(sents))]
            expected[c] = np.mean(cos)
            assert res["contributions"][c] == pytest.approx(dict(zip(DESCRIPTORS[c], cos, strict=True)), abs=1e-6)
            from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES as T

            prompts = [T[i](c) for i in range(len(DESCRIPTORS[c]))]
            ensemble[c] = float(np.mean(img[k] @ clip.embed_texts(prompts).T))
        assert res["scores"] == pytest.approx(expected, abs=1e-6)
        assert res["label"] == max(expected, key=expected.get)
        base = {c: float(img[k] @ clip.embed_texts([c])[0]) for c in classes}  # the bare name
        assert res["baseline_scores"] == pytest.approx(base, abs=1e-6)
        assert res["baseline_label"] == max(base, key=base.get)
        assert res["ensemble_scores"] == pytest.approx(ensemble, abs=1e-6)
        assert set(res["random_scores"]) == set(classes) and res["random_scores"] != res["scores"]


def test_descriptor_aggregates_and_aligned_lists(clip, images):
    classes = list(DESCRIPTORS)
    lists = [DESCRIPTORS[c] for c in classes]
    mean = DescriptorClassify(clip).run(image=images[0], classes=classes, descriptors=lists)
    mx = DescriptorClassify(clip, aggregate="max").run(image=images[0], classes=classes, descriptors=lists)
    sm = DescriptorClassify(clip, aggregate="sum").run(image=images[0], classes=classes, descriptors=DESCRIPTORS)
    for c in classes:
        contrib = list(mean["contributions"][c].values())
        assert mx["scores"][c] == pytest.approx(max(contrib), abs=1e-6)
        assert sm["scores"][c] == pytest.approx(sum(contrib), abs=1e-6)


def test_descriptor_bad_inputs(clip, images):
    node = DescriptorClassify(clip, rules="first_word")
    with pytest.raises(SocraticError, match="empty class list"):
        node.run(image=images[0], classes=[], descriptors={})
    with pytest.raises(SocraticError, match="class 'cat' has no descriptors"):
        node.run(image=images[0], classes=["cat"], descriptors={"cat": []})
    paper = DescriptorClassify(clip).run(image=images[0], classes=["cat", "dog"],
                                         descriptors={"cat": [], "dog": ["fur"]})
    assert list(paper["contributions"]["cat"]) == [""]  # the paper's one empty descriptor
    with pytest.raises(SocraticError, match="no descriptors for class 'dog'"):
        node.run(image=images[0], classes=["dog"], descriptors=DESCRIPTORS)
    with pytest.raises(SocraticError, match="2 descriptor lists for 3 classes"):
        node.run(image=images[0], classes=list(DESCRIPTORS), descriptors=[["a"], ["b"]])


def test_descriptor_files_round_trip(tmp_path):
    path = save_descriptors(DESCRIPTORS, tmp_path / "d" / "descriptors.json")
    assert load_descriptors(path) == DESCRIPTORS
    (tmp_path / "bad.json").write_text('{"cat": "whiskers"}')
    with pytest.raises(SocraticError, match="expected a JSON object"):
        load_descriptors(tmp_path / "bad.json")
    (tmp_path / "broken.json").write_text('{"cat": [')
    with pytest.raises(SocraticError, match=r"broken.json:1:\d+: not JSON"):
        load_descriptors(tmp_path / "broken.json")


def test_descriptor_graph_from_yaml_with_llm_descriptors(clip, images, tmp_path, tiny_open_clip):
    """The recipe's whole graph: an LLM (replayed) writes descriptors per class, CLIP scores."""
    from socratic.spec import load_graph_text

    rec = tmp_path / "descriptors.jsonl"
    with rec.open("w") as f:
        for c, ds in DESCRIPTORS.items():
            msgs = load_prompt("descriptors").render_messages({"category": c})
            answer = " " + ds[0] + "\n" + "\n".join(f"- {d}" for d in ds[1:])
            f.write(json.dumps({"messages": msgs, "texts": [answer]}) + "\n")
    text = f"""
inputs:
  image: image
  classes: {{type: "list[str]", default: {list(DESCRIPTORS)}}}
models:
  llm: {{backend: replay, path: {rec}, match: messages}}
  clip: {{backend: open_clip, model: {tiny_open_clip["arch"]}, pretrained: {tiny_open_clip["checkpoint"]}}}
nodes:
  describe:
    type: llm.generate
    model: llm
    prompt: descriptors
    parse: bullets
    for_each: {{category: "${{inputs.classes}}"}}
  classify:
    type: clip.descriptor_classify
    model: clip
    image: ${{inputs.image}}
    classes: ${{inputs.classes}}
    descriptors: ${{describe.output}}
outputs:
  label: ${{classify.label}}
  scores: ${{classify.scores}}
  descriptors: ${{describe.output}}
"""
    g = load_graph_text(text, "g.yaml")
    one = [g.run(image=str(im.path)) for im in images[:5]]
    assert one[0]["descriptors"] == list(DESCRIPTORS.values())
    many = g.run_many([{"image": str(im.path)} for im in images[:5]], concurrency=5)
    for m, o in zip(many, one, strict=True):  # batched == row by row (up to float rounding)
        assert m["outputs"]["label"] == o["label"] and m["outputs"]["descriptors"] == o["descriptors"]
        assert m["outputs"]["scores"] == pytest.approx(o["scores"], abs=1e-5)
    direct = DescriptorClassify(clip).run(image=images[0], classes=list(DESCRIPTORS), descriptors=DESCRIPTORS)
    assert one[0]["label"] == direct["label"]
    assert one[0]["scores"] == pytest.approx(direct["scores"], abs=1e-6)


def test_zero_shot_classify_and_rank_recomputed(clip, images):
    classes = ["cat", "rocket", "coffee cup"]
    templates = ["a photo of a {}.", "a drawing of a {}."]
    res = ClipClassify(clip, templates=templates).run_batch([{"image": im, "classes": classes} for im in images])
    img = clip.embed_images(images)
    cls = []
    for c in classes:
        t = clip.embed_texts([tp.format(c) for tp in templates]).mean(axis=0)
        cls.append(t / np.linalg.norm(t))
    logits = clip.logit_scale * img @ np.stack(cls).T
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    for k, r in enumerate(res):
        assert list(r["scores"].values()) == pytest.approx(probs[k].tolist(), abs=1e-5)
        assert r["label"] == classes[int(np.argmax(probs[k]))]
    texts = ["a cat", "a rocket", "a cup", "a man"]
    ranked = ClipRank(clip, top_k=3).run(image=images[2], texts=texts)
    sims = img[2] @ clip.embed_texts(texts).T
    order = np.argsort(-sims, kind="stable")[:3]
    assert ranked["ranked"] == [texts[i] for i in order]
    assert ranked["scores"] == pytest.approx(sims[order].tolist(), abs=1e-6)


def test_socratic_evidence_and_prompt(clip, images):
    ev = SocraticEvidence(clip, top_places=3, top_objects=4).run(image=images[0])
    img = clip.embed_images(images[:1])[0]

    def best(texts, k):
        s = clip.embed_texts(texts) @ img
        return [int(i) for i in np.argsort(-s, kind="stable")[:k]]

    node = SocraticEvidence(clip)
    assert ev["img_type"] == node.image_types[best([f"This is a {t}." for t in node.image_types], 1)[0]]
    people = best(["There are no people in this photo.", "There are people in this photo."], 1)[0]
    count = PEOPLE_COUNTS[best([f"There {p} in this photo." for p in PEOPLE_COUNTS], 1)[0]]
    assert ev["num_people"] == ("are no people" if people == 0 else count)
    assert ev["places"] == [node.places[i] for i in best([f"Photo of a {p}." for p in node.places], 3)]
    assert ev["objects"] == [node.objects[i] for i in best([f"Photo of a {o}." for o in node.objects], 4)]
    prompt = load_prompt("socratic_caption").render({**ev})
    assert prompt == (  # the authors' notebook, line for line
        f"I am an intelligent image captioning bot.\nThis image is a {ev['img_type']}. There "
        f"{ev['num_people']}.\nI think this photo was taken at a {ev['places'][0]}, {ev['places'][1]}, or "
        f"{ev['places'][2]}.\nI think there might be a {', '.join(ev['objects'])} in this {ev['img_type']}."
        "\nA creative short caption I can generate to describe this image is:"
    )


def test_places_read_as_the_notebook_does():
    from socratic.recipes.socratic_caption import read_vocabulary_text

    text = "/a/airfield 0\n/b/bus_station/indoor 45\n/s/subway_station/platform 313\n/b/bedroom 52\n"
    assert read_vocabulary_text(text) == ["airfield", "indoor bus station", "platform subway station", "bedroom"]


def test_socratic_captioning_graph_reranks_candidates(clip, images):
    from socratic.llm.base import LLM, LLMResult
    from socratic.nodes.llm import Generate

    candidates = ["A cat on a sofa.", "An astronaut with a flag.", "A cup of coffee.", "A rocket."]

    class Writer(LLM):
        backend = "writer"

        async def _agenerate(self, request):
            return LLMResult(texts=[candidates[i % 4] for i in range(request.n)])

    g = Graph("socratic-caption")
    g.add_input("image", Image)
    g.add("evidence", SocraticEvidence(clip), image="inputs.image")
    g.add("write", Generate(Writer(cache=False), prompt="socratic_caption", n=4, temperature=0.9),
          img_type="evidence.img_type", num_people="evidence.num_people",
          places="evidence.places", objects="evidence.objects")
    g.add("rerank", ClipRank(clip), image="inputs.image", texts="write.text")
    g.add_output("caption", "rerank.best")
    g.add_output("ranked", "rerank.ranked")
    g.add_output("scores", "rerank.scores")
    out = g.run(image=images[0])
    sims = clip.embed_images(images[:1])[0] @ clip.embed_texts(candidates).T
    order = np.argsort(-sims, kind="stable")
    assert out["ranked"] == [candidates[i] for i in order]
    assert out["caption"] == candidates[order[0]]
    assert out["scores"] == sorted(out["scores"], reverse=True)


def test_retrieval_text_image_and_composed_queries(clip, real_images, tmp_path):
    images = [Image(p) for p in real_images]
    search = Search(clip, images=str(real_images[0].parent), k=3, index_dir=str(tmp_path / "idx"))
    emb = clip.embed_images(images)
    # an image's own embedding retrieves it first (a known answer)
    for k in range(len(images)):
        hit = search.run(query=EmbedImage(clip).run(image=images[k])["embedding"])
        assert hit["images"][0].path == str(real_images[k])
    # text -> image equals the brute-force ranking
    q = EmbedText(clip).run(text="a photo of a cat")["embedding"]
    hits = search.run(query=q)
    brute = np.argsort(-(emb @ np.asarray(q.vector)), kind="stable")[:3]
    assert [h.path for h in hits["images"]] == [str(real_images[i]) for i in brute]
    # composed query: normalise(image + text)
    comp = Compose().run(image=EmbedImage(clip).run(image=images[1])["embedding"],
                         text=EmbedText(clip).run(text="snow")["embedding"])["embedding"]
    v = emb[1] + clip.embed_texts(["snow"])[0]
    assert np.allclose(comp.vector, v / np.linalg.norm(v), atol=1e-6)
    # the index was saved and is reused
    assert (tmp_path / "idx" / "ids.json").exists()
    again = Search(clip, images="/nonexistent", k=3, index_dir=str(tmp_path / "idx"))
    assert again.run(query=q)["images"] == hits["images"]


def test_corrupt_image_fails_its_row_only(clip, real_images, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    g = Graph()
    g.add_input("image", Image)
    g.add("c", ClipClassify(clip), image="inputs.image", classes=__import__("socratic").Const(["a", "b"]))
    g.add_output("label", "c.label")
    rows = [{"image": str(real_images[0])}, {"image": str(bad)}, {"image": str(real_images[1])}]
    res = g.run_many(rows, concurrency=3)
    assert "outputs" in res[0] and "outputs" in res[2]
    assert "broken.jpg" in res[1]["error"] and res[1]["node"] == "c"
