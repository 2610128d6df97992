"""A model card (``README.md``, Hugging Face style: YAML front matter, then text) written beside
every saved adapter, bridge and LLaVA export: base model(s) with fingerprints, data, config,
steps, final metrics, and how to load it from Python and YAML.

Example:
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> card = write_model_card(folder, kind="lora",
    ...     config={"task": "lora", "data": {"train": "qa.jsonl"}}, result={"step": 10, "exact_match": 0.5},
    ...     base_models={"lm": {"path": "/m/llama", "fingerprint": "ab12"}})
    >>> text = card.read_text()
    >>> "base_model: /m/llama" in text, "| exact_match | 0.5 |" in text, "PeftModel.from_pretrained" in text
    (True, True, True)
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["write_model_card"]

_HOW = {
    "lora": (
        "from peft import PeftModel\nfrom transformers import AutoModelForCausalLM\n\n"
        "base = AutoModelForCausalLM.from_pretrained(\"{base}\")\n"
        "model = PeftModel.from_pretrained(base, \"{folder}\")",
        "models:\n  tuned: {{backend: hf, model: {base}, adapter: {folder}}}",
    ),
    "bridge": (
        "from socratic.adapters.io import load_bridge\n\nvlm = load_bridge(\"{folder}\")\n"
        "vlm.generate([image], max_new_tokens=24)",
        "models:\n  captioner: {{backend: bridge, path: {folder}}}\n"
        "  vlm: {{backend: bridge_llm, model: {folder}}}",
    ),
    "llava": (
        "from transformers import AutoModelForImageTextToText, AutoProcessor\n\n"
        "model = AutoModelForImageTextToText.from_pretrained(\"{folder}\")\n"
        "processor = AutoProcessor.from_pretrained(\"{folder}\")",
        "models:\n  vlm: {{backend: hf, model: {folder}}}",
    ),
}


def write_model_card(folder: str | os.PathLike[str], *, kind: str, config: dict[str, Any],
                     result: dict[str, Any], base_models: dict[str, dict[str, Any]]) -> Path:
    """Write ``folder/README.md`` for a saved ``kind`` (``lora``, ``bridge`` or ``llava``)."""
    out = Path(folder)
    base = next(iter(base_models.values()), {}).get("path", "?")
    metrics = {k: v for k, v in result.items() if isinstance(v, (int, float)) and k not in ("step",)}
    python, yaml_ = _HOW[kind]
    lines = [
        "---",
        f"base_model: {base}",
        "library_name: " + {"lora": "peft", "bridge": "socratic", "llava": "transformers"}[kind],
        "tags: [socratic, " + kind + "]",
        "---",
        "",
        f"# {kind} trained with socratic",
        "",
        "## Base models",
        "",
        "| role | path | fingerprint |",
        "|---|---|---|",
        *[f"| {role} | {b.get('path')} | {b.get('fingerprint')} |" for role, b in base_models.items()],
        "",
        "## Training",
        "",
        f"- data: `{json.dumps(config.get('data', {}).get('train'))}` (dev: "
        f"`{json.dumps(config.get('data', {}).get('val'))}`)",
        f"- steps: {result.get('step')}",
        "",
        "| metric | value |",
        "|---|---|",
        *[f"| {k} | {round(v, 6) if isinstance(v, float) else v} |" for k, v in sorted(metrics.items())],
        "",
        "## How to load it",
        "",
        "```python",
        python.format(base=base, folder=out.resolve()),
        "```",
        "",
        "In a graph:",
        "",
        "```yaml",
        yaml_.format(base=base, folder=out.resolve()),
        "```",
        "",
        "## Config",
        "",
        "```json",
        json.dumps(config, indent=2, default=str),
        "```",
        "",
    ]
    path = out / "README.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
