"""The hf backend on tiny local models: batching, padding, templates, sampling, adapters."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import transformers

from socratic import usage
from socratic.errors import ModelLoadError
from socratic.llm.base import LLMRequest
from socratic.llm.hf import HFLLM

PROMPTS = ["a photo of a cat", "the quick brown fox jumps over the lazy dog again", "hi",
           "two birds fly"]


def make(path: Path, **options) -> HFLLM:
    return HFLLM(**{"model": str(path), "cache": False, "max_tokens": 10, "device": "cpu",
                    **options})


def count_generate(llm: HFLLM) -> list[int]:
    """Wrap the loaded model's generate() and record each call's batch size."""
    model = llm.resource().model
    calls: list[int] = []
    original = model.generate

    def counting(*args, **kwargs):
        calls.append(int(kwargs["input_ids"].shape[0]))
        return original(*args, **kwargs)

    model.generate = counting
    return calls


def reference(path: Path, prompt: str, max_new_tokens: int = 10, seq2seq: bool = False) -> str:
    """Plain transformers, one unpadded prompt: what the backend must reproduce."""
    tok = transformers.AutoTokenizer.from_pretrained(str(path))
    cls = transformers.AutoModelForSeq2SeqLM if seq2seq else transformers.AutoModelForCausalLM
    model = cls.from_pretrained(str(path)).eval()
    enc = tok([prompt], return_tensors="pt")
    with torch.inference_mode():
        out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                             pad_token_id=tok.pad_token_id)
    start = 0 if seq2seq else enc["input_ids"].shape[1]
    return tok.decode(out[0][start:], skip_special_tokens=True)


@pytest.mark.parametrize("arch", ["gpt2", "llama", "t5"])
async def test_batched_equals_one_by_one_and_plain_transformers(arch, request):
    path = request.getfixturevalue(f"tiny_{arch}")
    batched = make(path)
    calls = count_generate(batched)
    reqs = [LLMRequest(prompt=p, temperature=0) for p in PROMPTS]
    together = [r.text for r in await batched.agenerate_batch(reqs)]
    assert calls == [4]  # one real batch
    assert batched.resource().seq2seq is (arch == "t5")
    single = make(path)
    alone = [(await single.agenerate(r)).text for r in reqs]
    assert together == alone
    assert len(set(together)) > 1 and all(together)
    # left padding done right: the shortest and the longest prompt match unpadded generation
    for i in (1, 2):
        assert together[i] == reference(path, PROMPTS[i], seq2seq=arch == "t5")


async def test_batch_size_and_option_groups(tiny_gpt2):
    llm = make(tiny_gpt2, batch_size=2)
    calls = count_generate(llm)
    reqs = [LLMRequest(prompt=p) for p in PROMPTS] + [LLMRequest(prompt="hi", max_tokens=3)]
    results = await llm.agenerate_batch(reqs)
    assert sorted(calls) == [1, 2, 2]
    assert results[2].text.startswith(results[4].text) and results[2].text != results[4].text


def test_sync_generate_and_usage(tiny_llama):
    llm = make(tiny_llama)
    with usage.track() as stats:
        out = llm.generate("a photo of a cat")
        again = llm.generate("a photo of a cat")
    assert out.text == again.text == reference(tiny_llama, "a photo of a cat")
    assert stats.requests == 2 and stats.prompt_tokens == 2 * out.usage.prompt_tokens > 0
    assert 0 < out.usage.completion_tokens <= 10


async def test_chat_template_for_messages(tiny_gpt2):
    messages = [{"role": "user", "content": "describe the image"}]
    templated = (await make(tiny_gpt2).agenerate({"messages": messages})).text
    tok = transformers.AutoTokenizer.from_pretrained(str(tiny_gpt2))
    text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text.startswith("<|user|>")
    assert templated == (await make(tiny_gpt2).agenerate({"prompt": text})).text
    plain = (await make(tiny_gpt2, chat_template=False).agenerate({"messages": messages})).text
    assert plain == reference(tiny_gpt2, "describe the image")
    assert templated != plain


async def test_n_greedy_copies_and_seeded_sampling(tiny_gpt2):
    llm = make(tiny_gpt2)
    greedy = await llm.agenerate({"prompt": "a dog", "n": 3, "temperature": 0})
    assert len(greedy.texts) == 3 and len(set(greedy.texts)) == 1
    req = {"prompt": "a dog", "n": 4, "temperature": 1.0, "seed": 7}
    first, second = await llm.agenerate(req), await llm.agenerate(req)
    assert first.texts == second.texts
    assert len(first.texts) == 4 and len(set(first.texts)) > 1


async def test_stop_strings_cut_the_answer(tiny_llama):
    llm = make(tiny_llama, max_tokens=12)
    full = (await llm.agenerate("the quick brown fox")).text
    stop = full[3:5]
    cut = (await llm.agenerate({"prompt": "the quick brown fox", "stop": [stop, "\x00zz"]})).text
    assert cut == full[: full.find(stop)] and len(cut) < len(full)


async def test_lora_adapter_changes_outputs_like_peft(tiny_gpt2, tiny_lora):
    from peft import PeftModel

    base = (await make(tiny_gpt2).agenerate("a photo of a cat")).text
    tuned_llm = make(tiny_gpt2, adapter=str(tiny_lora))
    tuned = (await tuned_llm.agenerate("a photo of a cat")).text
    assert tuned != base
    assert isinstance(tuned_llm.resource().model, PeftModel)
    tok = transformers.AutoTokenizer.from_pretrained(str(tiny_gpt2))
    model = transformers.AutoModelForCausalLM.from_pretrained(str(tiny_gpt2))
    model = PeftModel.from_pretrained(model, str(tiny_lora)).eval()
    enc = tok(["a photo of a cat"], return_tensors="pt")
    with torch.inference_mode():
        out = model.generate(**enc, max_new_tokens=10, do_sample=False,
                             pad_token_id=tok.pad_token_id)
    assert tuned == tok.decode(out[0][enc["input_ids"].shape[1]:], skip_special_tokens=True)


def test_bad_adapter_dir(tiny_gpt2, tmp_path):
    with pytest.raises(ModelLoadError, match="not a peft adapter directory"):
        make(tiny_gpt2, adapter=str(tmp_path)).generate("x")


def test_offline_hub_miss_is_one_clear_error():
    with pytest.raises(ModelLoadError) as err:
        HFLLM(model="some-org/not-downloaded-model").generate("x")
    msg = str(err.value)
    assert "'some-org/not-downloaded-model' is not a local directory" in msg
    assert "HF_HUB_OFFLINE=1" in msg and "--local-dir" in msg
    assert err.value.__cause__ is None


def test_missing_local_dir(tmp_path):
    with pytest.raises(ModelLoadError, match="cannot load hf model: local directory not found: .*nope"):
        HFLLM(model=str(tmp_path / "nope")).generate("x")


def test_dtype_and_device_options(tiny_gpt2):
    llm = make(tiny_gpt2, dtype="bfloat16")
    assert llm.resource().model.dtype == torch.bfloat16
    assert llm.generate("a cat").texts
    if not torch.cuda.is_available():
        with pytest.raises(ModelLoadError, match="no CUDA"):
            make(tiny_gpt2, device="cuda").generate("x")


async def test_cached_answer_skips_generation(tiny_t5):
    llm = make(tiny_t5, cache=True)
    first = await llm.agenerate("cache this t5 prompt")
    calls = count_generate(llm)
    second = await llm.agenerate("cache this t5 prompt")
    assert second.texts == first.texts and second.cached == 1 and calls == []


def test_config_needs_model():
    with pytest.raises(ValueError, match="needs a 'model'"):
        HFLLM()


def test_graph_rows_are_batched_across_rows(tiny_gpt2):
    from socratic import Graph
    from socratic.nodes.llm import Generate

    llm = make(tiny_gpt2, batch_size=16)
    calls = count_generate(llm)
    g = Graph("hf-rows")
    g.add_input("thing", str)
    g.add("say", Generate(llm, template="a photo of a {{ thing }}", temperature=0),
          thing="inputs.thing")
    g.add_output("text", "say.output")
    things = ["cat", "dog", "red chair", "bird", "bicycle", "kitchen"]
    rows = g.run_many([{"thing": t} for t in things], concurrency=8)
    texts = [r["outputs"]["text"] for r in rows]
    assert sum(calls) == len(things) and len(calls) < len(things)  # real cross-row batches
    alone = make(tiny_gpt2)
    # the node sends chat messages: the tokenizer's chat template applies, batched or not
    chats = [{"messages": [{"role": "user", "content": f"a photo of a {t}"}]} for t in things]
    assert texts == [alone.generate(c).text for c in chats]
