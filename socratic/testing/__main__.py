"""``python -m socratic.testing --port 8123 --latency 0.1``: run the fake OpenAI server."""

from .fake_openai import main

main()
