"""The LLaVA two-stage recipe learns a tiny shapes task on CPU; its transformers export loads
without socratic, reproduces the logits, and answers as a VLM node in a graph (the ``hf``
backend's vision path)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from socratic.adapters.llava.demo import QUESTIONS

pytestmark = pytest.mark.slow

STAGE1_MIN_EM, STAGE2_MIN_EM = 0.3, 0.4  # measured here: 0.44 and 0.53 (held-out, 32 images)


@pytest.fixture(scope="module")
def llava(tmp_path_factory):
    from socratic.adapters.llava.config import LlavaRunConfig
    from socratic.adapters.llava.demo import prepare_llava_demo
    from socratic.adapters.llava.train import build_llava_run, write_card

    demo = prepare_llava_demo(tmp_path_factory.mktemp("llava"))
    root, clip, lm = demo.root, demo.clip, demo.lm
    train_cfg = {"max_steps": 200, "batch_size": 16, "lr": 3e-3, "warmup_steps": 10, "cpu": True,
                 "progress_bar": False, "tensorboard": False, "log_every": 10, "eval_samples": 32,
                 "eval_max_new_tokens": 6}
    s1 = LlavaRunConfig.model_validate({
        "stage": 1, "vision": {"path": str(clip)}, "lm": {"path": str(lm)},
        "data": {"train": demo.train_captions, "val": demo.dev_captions, "stage1_prompt": ""},
        "train": {**train_cfg, "output_dir": str(root / "s1")}})
    trainer1, _ = build_llava_run(s1)
    r1 = trainer1.fit()
    s2 = LlavaRunConfig.model_validate({
        "stage": 2, "vision": {"path": str(clip)},
        "lm": {"path": str(lm), "tune": "lora", "lora": {"r": 8, "alpha": 16, "dropout": 0.0}},
        "projector": {"init": str(root / "s1" / "projector.safetensors")},
        "data": {"train": demo.chats, "val": demo.dev_chats},
        "train": {**train_cfg, "output_dir": str(root / "s2")}})
    trainer2, bridge = build_llava_run(s2)
    r2 = trainer2.fit()
    write_card(bridge, s2, r2)
    return SimpleNamespace(root=root, r1=r1, r2=r2, t1=trainer1, t2=trainer2, bridge=bridge,
                           held=demo.held_out)


def test_two_stages_learn_the_shapes_task(llava):
    losses1 = [r["loss"] for r in llava.t1.history]
    losses2 = [r["loss"] for r in llava.t2.history]
    assert losses1[-1] < 0.6 * losses1[0] and losses2[-1] < losses2[0], (losses1, losses2)
    assert llava.r1["exact_match"] >= STAGE1_MIN_EM, llava.r1
    assert llava.r2["exact_match"] >= STAGE2_MIN_EM, llava.r2
    # stage 1 trained the projector only; stage 2 the projector and LoRA (no other weight)
    names = llava.t2.trainable_names
    assert all("multi_modal_projector" in n or "lora_" in n for n in names)
    assert any("lora_" in n for n in names) and not any("lora_" in n for n in llava.t1.trainable_names)


def test_loss_is_on_assistant_turns_only(llava):
    bridge = llava.bridge
    item = {"image": llava.held[0].image, "messages": [
        {"role": "user", "content": "<image>\nWhat is in the image?"}, {"role": "assistant", "content": "a red circle"},
        {"role": "user", "content": "Is it a shape?"}, {"role": "assistant", "content": "yes"}]}
    batch = bridge.collate([item])
    tok = bridge.tokenizer
    learned = tok.decode([int(i) for i in batch["labels"][0] if i >= 0])
    assert learned == "a red circle\nyes\n</s>"
    assert int((batch["input_ids"][0] == tok.convert_tokens_to_ids("<image>")).sum()) == bridge.n_image_tokens


def test_transformers_export_reproduces_the_logits(llava):
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    export = llava.root / "s2" / "llava"
    model = AutoModelForImageTextToText.from_pretrained(str(export)).eval()
    processor = AutoProcessor.from_pretrained(str(export))
    assert type(model).__name__ == "LlavaForConditionalGeneration"
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTIONS[0]}]}]
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True)
    enc = processor(images=llava.held[1].image, text=prompt + llava.held[1].caption, return_tensors="pt")
    bridge = llava.bridge.eval()
    with torch.no_grad():
        ours = bridge(**enc)["logits"]
        theirs = model(**enc).logits
    assert ours.shape == theirs.shape and float((ours - theirs).abs().max()) < 1e-4


def test_the_export_has_a_model_card(llava):
    card = (llava.root / "s2" / "llava" / "README.md").read_text()
    assert "library_name: transformers" in card and "AutoModelForImageTextToText" in card
    assert f"| exact_match | {round(llava.r2['exact_match'], 6)} |" in card
    assert card.count("| lm |") == 1 and card.count("| vision |") == 1


def test_export_answers_as_a_vlm_node_in_a_graph(llava):
    from socratic import Graph
    from socratic.llm.hf import HFLLM
    from socratic.nodes.llm import Generate
    from socratic.types import Image

    g = Graph("llava")
    g.add_input("photos", list[Image])
    vlm = HFLLM(model=str(llava.root / "s2" / "llava"), cache=False, max_tokens=6, temperature=0)
    g.add("ask", Generate(vlm, template=QUESTIONS[0]), for_each={"images": "inputs.photos"})
    g.add_output("answers", "ask.output")
    photos = [s.image for s in llava.held[:8]]
    answers = [a.strip() for a in g.run(photos=photos)["answers"]]
    assert answers == llava.bridge.generate(photos, QUESTIONS[0], max_new_tokens=6)
    assert sum(a == s.caption for a, s in zip(answers, llava.held[:8], strict=True)) >= 4
