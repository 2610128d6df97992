"""The vision examples run offline end to end: tiny local CLIP / BLIP weights (built by the
fixtures) and a scripted LLM replace the hub weights and the API through ``--set``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from socratic.cli import main
from socratic.llm.base import LLM, LLMResult
from socratic.models import register_backend

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


class ScriptedLLM(LLM):
    """Answers by the prompt's kind: descriptor bullets, captions, reasoning, answers."""

    backend = "scripted-test"

    async def _agenerate(self, request):
        text = request.as_messages()[-1]["content"]
        if "useful features" in text:
            category = text.rsplit("there is a ", 1)[1].split(" in a photo")[0]
            answer = f" {category}-shaped\n- has {category} parts\n- a typical {category}"
        elif "captioning bot" in text:
            return LLMResult(texts=[f"caption number {i}" for i in range(request.n)])
        elif text.endswith("step by step."):
            answer = "The description mentions a spacesuit."
        else:
            answer = " a spacesuit."
        return LLMResult(texts=[answer] * request.n)


register_backend("scripted-test", "llm", ScriptedLLM)


@pytest.fixture(scope="module")
def clip_sets(tiny_open_clip):
    return ["--set", f"models.clip.model={tiny_open_clip['arch']}",
            "--set", f"models.clip.pretrained={tiny_open_clip['checkpoint']}"]


LLM_SET = ["--set", "models.llm.backend=scripted-test"]


def run(capsys, *args):
    code = main(["run", *args, "--no-cache"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def test_descriptor_classification_example(capsys, clip_sets):
    out = run(capsys, str(EXAMPLES / "descriptor_classification.yaml"), *clip_sets, *LLM_SET)
    classes = ["cat", "dog", "coffee cup", "astronaut", "rocket"]
    assert out["label"] in classes and set(out["scores"]) == set(classes)
    assert out["contributions"]["cat"] == pytest.approx(
        {"cat-shaped": out["contributions"]["cat"]["cat-shaped"],
         "has cat parts": out["contributions"]["cat"]["has cat parts"],
         "a typical cat": out["contributions"]["cat"]["a typical cat"]})


def test_socratic_captioning_example(capsys, clip_sets):
    out = run(capsys, str(EXAMPLES / "socratic_captioning.yaml"), *clip_sets, *LLM_SET)
    assert sorted(out["ranked"]) == sorted(f"caption number {i}" for i in range(10))
    assert out["caption"] == out["ranked"][0] and out["scores"] == sorted(out["scores"], reverse=True)
    assert len(out["places"]) == 3 and len(out["objects"]) == 10


def test_retrieval_example(capsys, clip_sets):
    out = run(capsys, str(EXAMPLES / "retrieval.yaml"), *clip_sets)
    shipped = {str(p) for p in (EXAMPLES / "images").glob("*.jpg")}
    assert len(out["text_hits"]) == 3 and set(out["text_hits"]) <= shipped
    assert set(out["composed_hits"]) <= shipped


def test_socratic_vqa_example(capsys, clip_sets, tiny_blip):
    out = run(capsys, str(EXAMPLES / "socratic_vqa.yaml"), *clip_sets, *LLM_SET,
              "--set", f"models.captioner.model={tiny_blip}")
    assert out["answer"] == "a spacesuit" and len(out["reasoning"]) == 3
    assert isinstance(out["caption"], str)


def _wiring(graph):
    return {
        name: (e.node.type_name, {s: str(r) for s, r in e.bindings.items()},
               {s: str(r) for s, r in e.for_each.items()})
        for name, e in graph.nodes.items()
    }


@pytest.mark.parametrize("name", ["descriptor_classification", "socratic_captioning", "socratic_vqa"])
def test_python_twins_wire_the_same_graph(name, tiny_open_clip, tiny_blip):
    import importlib.util

    from socratic.spec import load_graph
    from socratic.vision.captioner import HFCaptioner
    from socratic.vision.clip_open import OpenClipModel

    spec = importlib.util.spec_from_file_location(f"twin_{name}", EXAMPLES / f"{name}.py")
    twin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(twin)
    clip = OpenClipModel(model=tiny_open_clip["arch"], pretrained=tiny_open_clip["checkpoint"])
    args = [ScriptedLLM(), clip] + ([HFCaptioner(model=str(tiny_blip))] if name == "socratic_vqa" else [])
    py_graph = twin.build(*args)
    yaml_graph = load_graph(EXAMPLES / f"{name}.yaml")
    assert _wiring(py_graph) == _wiring(yaml_graph)
    assert set(py_graph.outputs) <= set(yaml_graph.outputs)
