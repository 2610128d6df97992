"""Every usage example in the LLM backends' docstrings runs and gives what it shows."""

import doctest
import importlib

import pytest

MODULES = [
    "socratic.llm.retry",
    "socratic.llm.openai_errors",
    "socratic.llm.openai_backend",
    "socratic.llm.replay",
    "socratic.llm.hf",
    "socratic.llm.langchain_backend",
    "socratic.testing",
    "socratic.testing.fake_openai",
    "socratic.integrations.langchain",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
