"""Export a trained LLaVA bridge as a plain transformers ``LlavaForConditionalGeneration`` folder
(config, processor with chat template, safetensors weights, LoRA merged), loadable by
``AutoModelForImageTextToText`` / ``AutoProcessor`` (and vLLM) without socratic, and by the
``hf`` backend's vision path in graphs.

Example:
    >>> export_llava(bridge, "runs/llava-stage2/llava")   # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["export_llava", "processor_chat_template"]

#: turns content given as parts (``{"type": "image"}`` / ``{"type": "text"}``) into the string
#: form the recipe trained on (``<image>\n`` then the text), then runs the LM's own template
_PARTS_TO_TEXT = (
    "{%- set ns = namespace(msgs=[]) -%}"
    "{%- for m in messages -%}"
    "{%- if m['content'] is string -%}{%- set ns.msgs = ns.msgs + [m] -%}"
    "{%- else -%}{%- set t = namespace(s='') -%}"
    "{%- for p in m['content'] -%}"
    "{%- if p['type'] == 'image' -%}{%- set t.s = t.s + '<image>\\n' -%}"
    "{%- elif p['type'] == 'text' -%}{%- set t.s = t.s + p['text'] -%}{%- endif -%}"
    "{%- endfor -%}"
    "{%- set ns.msgs = ns.msgs + [{'role': m['role'], 'content': t.s}] -%}"
    "{%- endif -%}{%- endfor -%}"
    "{%- set messages = ns.msgs -%}"
)


def processor_chat_template(lm_template: str) -> str:
    """The processor's chat template: content parts -> the recipe's text, then the LM's template."""
    return _PARTS_TO_TEXT + lm_template


def export_llava(bridge: Any, out_dir: str | os.PathLike[str]) -> Path:
    """Write ``bridge`` (a :class:`~socratic.adapters.llava.model.LlavaBridge`) as a transformers
    LLaVA folder. LoRA is merged into a copy of the LM's weights; the bridge is unchanged."""
    import copy

    out = Path(out_dir)
    model = bridge.model
    lm = model.model.language_model
    if hasattr(lm, "merge_and_unload"):  # peft: merge into a copy of the LM, the bridge is unchanged
        inner = copy.copy(model.model)
        inner._modules = dict(inner._modules)
        inner.language_model = copy.deepcopy(lm).merge_and_unload()
        model = copy.copy(model)
        model._modules = dict(model._modules)
        model.model = inner
    model.save_pretrained(str(out))
    bridge.processor.save_pretrained(str(out))
    return out
