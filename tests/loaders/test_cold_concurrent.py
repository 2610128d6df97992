"""Several heavy models in parallel branches of one graph load on a cold start (a fresh process).

Before the one load lock, two ``hf`` models failed every time with ``ImportError: cannot import
name 'AutoConfig' from 'transformers'``: the first calls of two backends imported transformers'
lazy module from two threads at once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def _llm(path: Path) -> str:
    return f"{{backend: hf, model: '{path}', max_tokens: 3, temperature: 0, cache: false, device: cpu}}"


def _run_cold(graph: str, tmp_path: Path, *inputs: str) -> dict:
    path = tmp_path / "g.yaml"
    path.write_text(graph)
    args = [arg for value in inputs for arg in ("-i", value)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "SOCRATIC_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.run(
        [sys.executable, "-m", "socratic.cli", "run", str(path), *args, "--concurrency", "1"],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return json.loads(proc.stdout)


def test_two_hf_llms_in_parallel_branches(lms, tmp_path):
    graph = (
        "inputs: {q: str}\n"
        f"models:\n  a: {_llm(lms.gpt2)}\n  b: {_llm(lms.llama)}\n"
        "nodes:\n"
        "  x: {type: llm.generate, model: a, template: '{{ q }}', q: '${inputs.q}'}\n"
        "  y: {type: llm.generate, model: b, template: '{{ q }}', q: '${inputs.q}'}\n"
        "outputs: {x: '${x.output}', y: '${y.output}'}\n"
    )
    out = _run_cold(graph, tmp_path, "q=a photo of a cat")
    assert set(out) == {"x", "y"} and all(isinstance(v, str) for v in out.values())


@pytest.mark.slow
def test_llms_captioner_and_clips_in_parallel_branches(lms, open_clip_models, hf_clips, captioners,
                                                       image, tmp_path):
    graph = (
        "inputs: {q: str, image: image}\n"
        f"models:\n  a: {_llm(lms.gpt2)}\n  b: {_llm(lms.t5)}\n"
        f"  cap: {{backend: hf_captioner, model: '{captioners.blip}', device: cpu, max_new_tokens: 4}}\n"
        f"  oc: {{backend: open_clip, model: 'local-dir:{open_clip_models.export}', device: cpu}}\n"
        f"  hc: {{backend: hf_clip, model: '{hf_clips.clip}', device: cpu}}\n"
        "nodes:\n"
        "  x: {type: llm.generate, model: a, template: '{{ q }}', q: '${inputs.q}'}\n"
        "  y: {type: llm.generate, model: b, template: '{{ q }}', q: '${inputs.q}'}\n"
        "  c: {type: caption.generate, model: cap, image: '${inputs.image}'}\n"
        "  k: {type: clip.classify, model: oc, image: '${inputs.image}', classes: [cat, dog]}\n"
        "  h: {type: clip.classify, model: hc, image: '${inputs.image}', classes: [cat, dog]}\n"
        "outputs: {x: '${x.output}', y: '${y.output}', c: '${c.caption}', k: '${k.label}',"
        " h: '${h.label}'}\n"
    )
    out = _run_cold(graph, tmp_path, "q=a photo of a cat", f"image={image}")
    assert set(out) == {"x", "y", "c", "k", "h"}
    assert out["k"] in ("cat", "dog") and out["h"] in ("cat", "dog")
