"""Local VLMs through the hf backend: tiny LLaVA, Qwen2-VL and BLIP-2 saved and loaded through
the real AutoModelForImageTextToText / AutoProcessor path, batched, in graphs."""

from __future__ import annotations

import asyncio

import pytest

from socratic import Graph, usage
from socratic.errors import GraphError, ValidationFailed
from socratic.llm.hf import HFLLM
from socratic.loaders import is_vision_model, load_hf_vlm
from socratic.nodes.llm import Generate
from socratic.spec import load_graph
from socratic.types import Image


def ask(image, text="What is in the picture?"):
    return {"messages": [{"role": "user", "content": [{"type": "image", "image": image},
                                                      {"type": "text", "text": text}]}],
            "temperature": 0}


@pytest.mark.parametrize("family", ["llava", "qwen2_vl"])
def test_chat_vlms_batch_like_one_by_one_and_see_the_image(vlms, pictures, family):
    path = getattr(vlms, family)
    loaded = load_hf_vlm(path, device="cpu")
    assert type(loaded.model).__name__ == {"llava": "LlavaForConditionalGeneration",
                                           "qwen2_vl": "Qwen2VLForConditionalGeneration"}[family]
    llm = HFLLM(model=path, cache=False, max_tokens=8)
    requests = [ask(pictures.red), ask(pictures.blue, "Which shape is it, and what colour?"), ask(pictures.green)]

    async def batched():
        return await llm.agenerate_batch(requests)

    with usage.track() as stats:
        together = asyncio.run(batched())
    alone = [llm.generate(r) for r in requests]
    assert [r.text for r in together] == [r.text for r in alone]
    assert stats.requests == 3
    # the image changes the answer (the model reads the pixels), and a text-only request works
    assert together[0].text != together[2].text
    text_only = llm.generate({"messages": [{"role": "user", "content": "What is in the picture?"}],
                              "temperature": 0})
    assert text_only.usage.prompt_tokens < together[0].usage.prompt_tokens  # image tokens counted


def test_images_input_for_each_and_interleaved_few_shot(vlms, pictures):
    model = HFLLM(model=vlms.qwen2_vl, cache=False, max_tokens=6)
    g = Graph("vqa")
    g.add_input("images", list[Image])
    g.add("ask", Generate(model, template="Q: what shape?"), for_each={"images": "inputs.images"})
    g.add_output("answers", "ask.output")
    answers = g.run(images=[pictures.red, pictures.blue])["answers"]
    assert answers == [model.generate(ask(p, "Q: what shape?")).text.strip() for p in (pictures.red, pictures.blue)]
    # few-shot with images: each shot's image sits in its own user turn
    few = Graph("few")
    few.add_input("image", Image)
    few.add_input("shots", list[dict])
    few.add("ask", Generate(model, template="{{ photo | image }} Shape?", few_shot=True),
            photo="inputs.image", shots="inputs.shots")
    few.add_output("answer", "ask.output")
    shots = [{"photo": pictures.red, "answer": "circle"}, {"photo": pictures.blue, "answer": "square"}]
    node = few.nodes["ask"].node
    request = node.build_request({"photo": Image(pictures.green), "shots": shots})
    assert [(m.role, m.content if isinstance(m.content, str) else [p["type"] for p in m.content])
            for m in request.messages] == [
        ("user", ["image", "text"]), ("assistant", "circle"), ("user", ["image", "text"]),
        ("assistant", "square"), ("user", ["image", "text"])]
    assert [m.content[0]["image"].path for m in request.messages if m.role == "user"] == [
        pictures.red, pictures.blue, pictures.green]
    assert few.run(image=pictures.green, shots=shots)["answer"] == model.generate(
        {"messages": [m.model_dump() for m in request.messages], "temperature": 0}).text.strip()


def test_blip2_as_an_image_and_prompt_llm(vlms, pictures):
    llm = HFLLM(model=vlms.blip2, cache=False, max_tokens=6)
    one = llm.generate(ask(pictures.red, "Question: what colour? Answer:"))
    other = llm.generate(ask(pictures.blue, "Question: what colour? Answer:"))
    assert one.text and one.text != other.text
    with pytest.raises(Exception, match="one image per request, not 2"):
        llm.generate({"messages": [{"role": "user", "content": [
            {"type": "image", "image": pictures.red}, {"type": "image", "image": pictures.blue}]}]})


def test_text_only_models_refuse_images_at_validation(vlms, pictures, tmp_path):
    assert is_vision_model(vlms.llava) is True and is_vision_model(vlms.llama) is False
    path = tmp_path / "g.yaml"
    path.write_text(f"""\
inputs:
  image: image
models:
  lm: {{backend: hf, model: "{vlms.llama}"}}
nodes:
  ask: {{type: llm.generate, model: lm, template: "what?", images: "${{inputs.image}}"}}
outputs:
  answer: ${{ask.output}}
""")
    with pytest.raises(ValidationFailed, match=r"g.yaml:6.*node 'ask': model 'hf:.*llama' cannot see images"):
        load_graph(path)
    with pytest.raises(GraphError, match="cannot see images"):
        Generate(HFLLM(model=vlms.llama), template="{{ x | image }}")


def test_bad_image_in_a_batch_fails_its_own_row(vlms, pictures, tmp_path):
    model = HFLLM(model=vlms.llava, cache=False, max_tokens=4)
    g = Graph("rows")
    g.add_input("image", Image)
    g.add("ask", Generate(model, template="what?"), images="inputs.image")
    g.add_output("answer", "ask.output")
    rows = g.run_many([{"image": pictures.red}, {"image": str(tmp_path / "gone.png")}, {"image": pictures.blue}])
    assert "outputs" in rows[0] and "outputs" in rows[2]
    assert "node 'ask' failed: image file not found" in str(rows[1]["error"]) and "gone.png" in str(rows[1]["error"])
