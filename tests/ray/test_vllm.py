"""The vllm backend. Without a GPU: the graph validates and the model fails at load with a clear
message; messages with images become vLLM's multimodal input. With a GPU (``-m gpu``, run by
bench/gpu.sh, never on the project's CPU machines): greedy answers match the hf backend on the
same tiny Llama, n / temperature / stop are honoured, a LoRA adapter from peft is served."""

from __future__ import annotations

import base64
import io

import pytest

from socratic.errors import ModelLoadError
from socratic.llm.base import LLMRequest
from socratic.llm.vllm import VLLMLLM, vllm_messages
from socratic.spec import load_graph_text

GRAPH = """
inputs: {q: str}
models:
  llm: {backend: vllm, model: ./tiny-llama, adapter: ./lora, temperature: 0, resources: {num_gpus: 1}}
nodes:
  a: {type: llm.generate, model: llm, template: "{{ q }}", q: "${inputs.q}"}
outputs: {a: "${a.text}"}
"""


def test_validate_accepts_a_vllm_graph_without_gpu_or_vllm():
    graph = load_graph_text(GRAPH, "g.yaml")
    model = graph.models["llm"]
    assert model.backend == "vllm" and not model.loaded
    assert model.to_spec()["resources"] == {"num_gpus": 1.0}


def test_without_a_gpu_it_fails_at_load_with_a_clear_message(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    llm = VLLMLLM(model="./tiny-llama", cache=False)
    with pytest.raises(ModelLoadError, match="needs a CUDA GPU, and none is visible here"):
        llm.generate("hi")
    with pytest.raises(ModelLoadError):  # the same error for every later call, no retry per row
        llm.generate("again")


def test_image_parts_become_data_urls(tmp_path):
    from PIL import Image

    path = tmp_path / "red.png"
    Image.new("RGB", (4, 3), (255, 0, 0)).save(path)

    request = LLMRequest(messages=[{"role": "system", "content": "be brief"},
                                   {"role": "user", "content": [{"type": "image", "image": str(path)},
                                                                {"type": "text", "text": "what colour?"}]}])
    messages = vllm_messages(request)
    assert messages[0] == {"role": "system", "content": "be brief"}
    image, text = messages[1]["content"]
    assert text == {"type": "text", "text": "what colour?"} and image["type"] == "image_url"
    data = base64.b64decode(image["image_url"]["url"].removeprefix("data:image/png;base64,"))
    assert Image.open(io.BytesIO(data)).getpixel((0, 0)) == (255, 0, 0)


# --------------------------------------------------------------------------- on a GPU


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    from socratic.testing import make_lora_adapter, make_tiny_lm

    root = tmp_path_factory.mktemp("vllm")
    model = make_tiny_lm(root / "llama", "llama", width=128, heads=2, layers=2)  # head size 64
    return model, make_lora_adapter(model, root / "lora")


@pytest.mark.gpu
def test_vllm_greedy_matches_hf(tiny_llama):
    from socratic.llm.hf import HFLLM

    model, _ = tiny_llama
    prompts = ["a red square", "two blue circles", "hello"]
    vllm = VLLMLLM(model=str(model), dtype="float32", max_tokens=8, temperature=0, cache=False,
                   gpu_memory_utilization=0.3)
    hf = HFLLM(model=str(model), dtype="float32", max_tokens=8, temperature=0, cache=False, device="cuda")
    got = [r.texts[0] for r in vllm.generate_many([LLMRequest(prompt=p) for p in prompts])]
    want = [hf.generate(p).text for p in prompts]
    assert got == want


@pytest.mark.gpu
def test_vllm_sampling_options_and_lora(tiny_llama):
    model, adapter = tiny_llama
    base = VLLMLLM(model=str(model), dtype="float32", cache=False, gpu_memory_utilization=0.3)
    result = base.generate({"prompt": "a red square", "n": 4, "temperature": 1.0, "seed": 3, "max_tokens": 12})
    assert len(result.texts) == 4 and len(set(result.texts)) > 1
    greedy = base.generate({"prompt": "a red square", "n": 3, "max_tokens": 12})
    assert len(set(greedy.texts)) == 1 and len(greedy.texts) == 3
    word = greedy.text.split()[1] if len(greedy.text.split()) > 1 else None
    if word:
        stopped = base.generate({"prompt": "a red square", "max_tokens": 12, "stop": [word]})
        assert word not in stopped.text
    tuned = VLLMLLM(model=str(model), adapter=str(adapter), dtype="float32", cache=False,
                    gpu_memory_utilization=0.3)
    assert tuned.generate({"prompt": "a red square", "max_tokens": 12}).text != greedy.text
