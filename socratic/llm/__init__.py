"""LLM backends behind one async interface (see :mod:`socratic.llm.base`).

Example:
    >>> from socratic.llm import LLMRequest
    >>> LLMRequest(prompt="Hi", n=2).n
    2
"""

from .base import LLM, LLMRequest, LLMResult, TokenUsage

__all__ = ["LLM", "LLMRequest", "LLMResult", "TokenUsage"]
