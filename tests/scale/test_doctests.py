"""The usage examples in the scale modules' docstrings run and give what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "socratic.adapters.distributed",
    "socratic.adapters.distributed.config",
    "socratic.adapters.distributed.deepspeed",
    "socratic.adapters.distributed.fsdp",
    "socratic.adapters.distributed.launch",
    "socratic.adapters.distributed.validate",
    "socratic.adapters.eval_loop",
    "socratic.adapters.quantization",
    "socratic.adapters.llava",
    "socratic.adapters.llava.config",
    "socratic.adapters.llava.data",
    "socratic.adapters.model_card",
    "socratic.adapters.tasks",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    assert result.attempted > 0 or name.endswith("__init__")
