"""Test helpers for code built on socratic: a fault-injecting OpenAI-compatible server (in a
thread or in its own process) and tiny offline transformers models (``tiny_models``).

Example:
    >>> from socratic.testing import FakeOpenAIServer, Fault
    >>> with FakeOpenAIServer(script=[Fault.status(429, retry_after=0.1)]) as server:
    ...     server.base_url.startswith("http://127.0.0.1:")
    True
"""

from .fake_openai import FakeOpenAIProcess, FakeOpenAIServer, Fault

__all__ = ["FakeOpenAIProcess", "FakeOpenAIServer", "Fault"]
