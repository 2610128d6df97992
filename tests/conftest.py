"""Session-wide test settings: offline hubs, a private cache directory, loopback only."""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ["SOCRATIC_CACHE_DIR"] = tempfile.mkdtemp(prefix="socratic-test-cache-")
# no test may reach a real API: any OpenAI client without an explicit base_url fails fast
os.environ.pop("OPENAI_BASE_URL", None)
os.environ.pop("OPENAI_API_KEY", None)
