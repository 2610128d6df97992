"""Trained bridges as image + prompt LLMs (``backend: bridge_llm``): llm.generate with images
captions held-out images as well as the bridge itself, batched; interleaved few-shot images go
through generate_interleaved."""

from __future__ import annotations

import pytest
from socratic.adapters.metrics import exact_match

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", ["clipcap_mlp", "qformer", "frozen"])
def test_bridge_llm_in_a_graph_captions_like_the_bridge(name, trained, tiny):
    from socratic import Graph
    from socratic.llm.bridge import BridgeLLM
    from socratic.nodes.llm import Generate
    from socratic.types import Image

    run = trained[name]
    llm = BridgeLLM(path=str(run.bridge_dir), max_tokens=12, cache=False)
    graph = Graph("caption")
    graph.add_input("image", Image)
    graph.add("say", Generate(llm, template=""), images="inputs.image")
    graph.add_output("caption", "say.output")
    samples = tiny.held_out[:16]
    rows = graph.run_many([{"image": Image(pil=s.image)} for s in samples], concurrency=16)
    said = [r["outputs"]["caption"] for r in rows]
    direct = [c[0] for c in run.vlm.generate([s.image for s in samples], max_new_tokens=12)]
    assert said == direct  # same answers as the bridge's own generate
    assert exact_match([[s.caption] for s in samples], said) >= 0.6
    assert llm.accepts_images() is True


def test_bridge_llm_interleaved_few_shot_and_sampling(trained, tiny):
    from socratic.llm.bridge import BridgeLLM
    from socratic.types import Image

    run = trained["frozen"]
    a, b, c = tiny.held_out[:3]
    llm = BridgeLLM(path=str(run.bridge_dir), max_tokens=12, cache=False)
    request = {"messages": [{"role": "user", "content": [
        {"type": "image", "image": Image(pil=a.image)}, {"type": "text", "text": a.caption + "."},
        {"type": "image", "image": Image(pil=b.image)}, {"type": "text", "text": b.caption + "."},
        {"type": "image", "image": Image(pil=c.image)}]}]}
    out = llm.generate(request).text
    assert out == run.vlm.generate_interleaved([a.image, a.caption + ".", b.image, b.caption + ".",
                                                c.image], max_new_tokens=12)[0]
    sampled = llm.generate({**request, "n": 2, "temperature": 0.9, "seed": 3})
    assert len(sampled.texts) == 2 and sampled.texts == llm.generate(
        {**request, "n": 2, "temperature": 0.9, "seed": 3}).texts
