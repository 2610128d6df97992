"""Flamingo-style bridge: the frozen LM is untouched at initialisation, the gates open in
training, a few-shot task is solved only with its interleaved shots; masks, saves, graphs."""

from __future__ import annotations

import numpy as np
import torch


def _sequence(model, n_images=2):
    ids, _ = model.sequence_ids(["red", *([None] * (n_images - 1))])
    return torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long)


def test_lm_output_is_unchanged_at_initialisation(world):
    from socratic.adapters.config import LMConfig
    from socratic.adapters.flamingo.config import FlamingoSettings
    from socratic.adapters.flamingo.model import FlamingoModel

    model = FlamingoModel.from_configs(
        world.vision,
        LMConfig(path=world.lm_dir),
        FlamingoSettings(
            num_latents=4,
            resampler_depth=1,
            resampler_heads=2,
            resampler_dim_head=8,
            xattn_heads=2,
            xattn_dim_head=8,
        ),
    )
    assert all(g == (0.0, 0.0) for g in model.gates())
    ids, mask = _sequence(model, 3)
    media = model.resampler(torch.randn(1, 3, 4, model.vision.dim("tokens")))
    with torch.no_grad():
        with_images = model.run_lm(ids, mask, media).logits
        alone = model.run_lm(ids, mask, None).logits
        plain = model.lm(inputs_embeds=model.embed(ids), attention_mask=mask).logits
    assert torch.equal(with_images, alone) and torch.equal(alone, plain)
    with torch.no_grad():  # open one gate: the images now change the output
        model.xattn[0].attn_gate.fill_(1.0)
        assert not torch.allclose(model.run_lm(ids, mask, media).logits, alone)


def test_gates_open_during_training(flamingo):
    assert flamingo.gates_before == [(0.0, 0.0)] * len(flamingo.gates_before)
    gates = np.abs(np.array(flamingo.model.gates()))
    assert (gates[:, 0] > 1e-3).all() and (gates[:, 1] > 1e-3).all(), gates
    assert flamingo.metrics["attn_gate_mean"] > 0.01


def test_the_fewshot_task_is_solved_only_with_the_shots(flamingo):
    m = flamingo.metrics
    assert m["fewshot_2_acc"] >= 0.85, m  # measured 1.0 (seeds 0-3)
    assert m["fewshot_0_acc"] <= 0.7, m  # the query alone: which attribute? (measured 0.43-0.53, seeds 0-2)
    assert m["fewshot_2_acc"] - m["fewshot_0_acc"] >= 0.25, m
    assert min(m["fewshot_2_color"], m["fewshot_2_shape"]) >= 0.7, m


def test_text_attends_only_to_the_image_just_before_it():
    from socratic.adapters.flamingo.xattn import MaskedCrossAttention

    torch.manual_seed(0)
    attn = MaskedCrossAttention(dim=8, dim_visual=4, dim_head=4, heads=2)
    x = torch.randn(1, 6, 8)
    where = torch.tensor([[False, True, False, True, False, False]])  # images at positions 1 and 3
    media = torch.randn(1, 2, 3, 4)
    out = attn(x, media, where)
    changed = media.clone()
    changed[:, 0] += 5.0  # change the first image only
    out2 = attn(x, changed, where)
    assert torch.equal(out[0, 0], torch.zeros(8))  # before any image: nothing
    assert not torch.allclose(out[:, 1:3], out2[:, 1:3])  # after image 1: it matters
    assert torch.equal(out[:, 3:], out2[:, 3:])  # after image 2: image 1 does not


def test_only_the_new_parts_train_and_save_load_is_exact(flamingo):
    from socratic.adapters.flamingo.io import load_flamingo

    assert flamingo.frozen_before == flamingo.frozen_after
    loaded = load_flamingo(flamingo.model_dir)
    model = flamingo.model.eval()
    assert set(loaded.trainable_state_dict()) == set(model.trainable_state_dict())
    assert loaded.gates() == model.gates()
    ids, mask = _sequence(model, 2)
    media = torch.randn(1, 2, 4, model.vision.dim("tokens"))
    with torch.no_grad():
        a = model.run_lm(ids, mask, model.visual(media)).logits
        b = loaded.run_lm(ids, mask, loaded.visual(media)).logits
    assert torch.allclose(a, b, atol=1e-5)


def test_in_a_graph_the_shots_say_what_to_answer(flamingo, tmp_path):
    from socratic.adapters.flamingo.data import shapes_episodes

    from socratic.spec import load_graph

    images, episodes = shapes_episodes(flamingo.cfg.data.shapes, 2, seed=flamingo.cfg.data.shapes.seed)
    paths = []
    for i, im in enumerate(images):
        im.save(tmp_path / f"{i}.png")
        paths.append(str(tmp_path / f"{i}.png"))
    graph = tmp_path / "g.yaml"
    graph.write_text(f"""
inputs: {{query: image, shots: "list[image]", texts: "list[str]"}}
nodes:
  answer:
    type: flamingo.generate
    path: {flamingo.model_dir}
    image: ${{inputs.query}}
    shot_images: ${{inputs.shots}}
    shot_texts: ${{inputs.texts}}
outputs: {{answer: "${{answer.text}}"}}
""")
    g = load_graph(graph)
    right = 0
    for e in episodes[:24]:
        out = g.run(query=paths[e.rows[-1]], shots=[paths[r] for r in e.rows[:-1]], texts=e.texts[:-1])
        right += out["answer"] == e.texts[-1]
    assert right >= 16, right
