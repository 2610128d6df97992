"""The SQLite response cache: concurrent writers, key hygiene, per-sample LLM caching, usage."""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from socratic import cache as cache_mod
from socratic import usage
from socratic.cache import Cache, canonical_json, request_key
from socratic.llm.base import LLM, LLMRequest, LLMResult, TokenUsage

# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cache]:
    """The default cache, in a fresh folder ($SOCRATIC_CACHE_DIR)."""
    monkeypatch.setenv("SOCRATIC_CACHE_DIR", str(tmp_path / "cache"))
    cache = cache_mod.get_cache()
    assert cache is not None and cache.directory == tmp_path / "cache"
    yield cache
    cache.close()


class CountingLLM(LLM):
    """Numbers every sample it generates; records each request that reaches the backend."""

    backend = "counting"

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        self.requests: list[LLMRequest] = []
        self.produced = 0

    async def _agenerate(self, request: LLMRequest) -> LLMResult:
        self.requests.append(request)
        texts = [f"{self.config.model}#{self.produced + i}" for i in range(request.n)]
        self.produced += request.n
        words = len(request.as_messages()[-1]["content"].split())
        return LLMResult(texts=texts, usage=TokenUsage(prompt_tokens=words, completion_tokens=2 * request.n))

    @property
    def sent(self) -> list[int]:
        """The ``n`` of each request that reached the backend."""
        return [r.n for r in self.requests]


def ask(
    llm: LLM, n: int, temperature: float | None = 0.7, prompt: str = "name a colour", **options: Any
) -> LLMResult:
    request = LLMRequest(prompt=prompt, n=n, temperature=temperature, **options)
    return asyncio.run(llm.agenerate(request))


# --------------------------------------------------------------------------- SQLite / WAL

_WRITER = """
from socratic.cache import Cache
start.wait(30)
c = Cache(directory)
for i in range(300):
    c.put("llm", f"{who}-{i}", {"text": f"value {who} {i}", "i": i})
c.close()
"""


def test_two_processes_write_concurrently_and_every_entry_is_readable(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    procs = [
        ctx.Process(target=exec, args=(_WRITER, {"start": start, "directory": str(tmp_path), "who": who}))
        for who in ("a", "b")
    ]
    for p in procs:
        p.start()
    start.set()  # both write at the same time: 300 separate transactions each
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    c = Cache(tmp_path)
    keys = [f"{who}-{i}" for who in ("a", "b") for i in range(300)]
    got = c.get_many("llm", keys)
    assert len(got) == 600
    assert got["b-299"] == {"text": "value b 299", "i": 299}
    assert c.get("llm", "a-0") == {"text": "value a 0", "i": 0}
    assert c._conn().execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert c.stats()["namespaces"] == {"llm": 600}
    c.close()


def test_namespaces_are_separate_and_clear_counts(tmp_path: Path) -> None:
    c = Cache(tmp_path)
    c.put_many("llm", {"k1": 1, "k2": 2})
    c.put("text-embedding", "k1", [0.5, 0.25])
    assert c.get("llm", "k1") == 1 and c.get("text-embedding", "k1") == [0.5, 0.25]
    assert c.get_many("llm", ["k1", "k2", "k3"]) == {"k1": 1, "k2": 2}
    assert c.clear("llm") == 2
    assert c.get("llm", "k1") is None and c.get("text-embedding", "k1") == [0.5, 0.25]
    c.close()


# --------------------------------------------------------------------------- keys


def test_request_key_ignores_credentials_and_headers() -> None:
    base = {"model": "gpt", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.2}
    variants = [
        {**base, "api_key": "sk-AAA"},
        {**base, "api_key": "sk-BBB", "authorization": "Bearer x"},
        {**base, "headers": {"Authorization": "Bearer y", "X-Trace": "1"}},
        {**base, "extra": {"Authorization": "Bearer z"}},
    ]
    keys = {request_key(v) for v in variants}
    assert len(keys) == 2  # only "extra" (with its secret removed) changes the key
    assert request_key(variants[0]) == request_key(base)
    assert request_key(variants[3]) == request_key({**base, "extra": {}})
    for v in variants:
        text = canonical_json(v)
        assert "sk-" not in text and "Bearer" not in text


def test_request_key_ignores_prefixed_api_keys() -> None:
    # bug: the secret-key pattern matches "api_key" only as the whole name, so LangChain-style
    # "openai_api_key" (or "x_api_key") enters the key: rotating a key empties the cache
    base = {"model": "gpt", "prompt": "hi"}
    for name in ("openai_api_key", "x-api-key", "OPENAI_API_KEY"):
        assert request_key({**base, name: "sk-A"}) == request_key(base), name
        assert "sk-A" not in canonical_json({**base, name: "sk-A"}), name


def test_request_key_is_order_insensitive_but_content_sensitive() -> None:
    a = {"model": "m", "temperature": 0.7, "messages": [{"role": "user", "content": "hi"}], "sample": 0}
    b = {"sample": 0, "messages": [{"content": "hi", "role": "user"}], "temperature": 0.7, "model": "m"}
    assert request_key(a) == request_key(b)
    assert request_key(a) != request_key({**a, "sample": 1})
    assert request_key(a) != request_key({**a, "temperature": 0.8})
    # list order is meaning (message order), not noise
    two = [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]
    assert request_key({**a, "messages": two}) != request_key({**a, "messages": two[::-1]})


def test_request_key_keeps_max_tokens() -> None:
    # bug: "token" is in _SECRET_WORDS, so every key containing it ("max_tokens") is dropped and
    # answers cut at 5 tokens are served for a request allowing 500
    a = {"model": "m", "prompt": "p", "max_tokens": 5}
    assert request_key(a) != request_key({**a, "max_tokens": 500})


# --------------------------------------------------------------------------- LLM caching


def test_more_samples_send_only_the_missing_ones(private_cache: Cache) -> None:
    llm = CountingLLM(model="m")
    first = ask(llm, 3)
    again = ask(llm, 5)
    assert llm.sent == [3, 2]
    assert again.texts[:3] == first.texts == ["m#0", "m#1", "m#2"]
    assert again.texts[3:] == ["m#3", "m#4"] and again.cached == 3
    assert ask(llm, 5).texts == again.texts and llm.sent == [3, 2]
    assert ask(llm, 1).texts == ["m#0"]


def test_other_temperature_or_model_misses(private_cache: Cache) -> None:
    llm = CountingLLM(model="m")
    ask(llm, 2)
    ask(llm, 2, temperature=0.9)
    ask(llm, 2, temperature=None)
    other = CountingLLM(model="m2")
    ask(other, 2)
    assert llm.sent == [2, 2, 2] and other.sent == [2]
    ask(CountingLLM(model="m"), 2)  # same backend + model in a new object: hits
    assert ask(llm, 2, prompt="name a shape").cached == 0 and llm.sent == [2, 2, 2, 2]


def test_other_max_tokens_misses(private_cache: Cache) -> None:
    # same bug as test_request_key_keeps_max_tokens, seen through an LLM: a 5-token answer
    # is served from the cache for a request allowing 500 tokens
    llm = CountingLLM(model="m")
    ask(llm, 1, max_tokens=5)
    ask(llm, 1, max_tokens=500)
    assert llm.sent == [1, 1]


def test_cache_false_in_the_config_bypasses(private_cache: Cache) -> None:
    llm = CountingLLM(model="m", cache=False)
    ask(llm, 2)
    r = ask(llm, 2)
    assert llm.sent == [2, 2] and r.cached == 0 and r.texts == ["m#2", "m#3"]
    assert private_cache.stats()["entries"] == 0


def test_env_no_cache_bypasses(private_cache: Cache, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOCRATIC_NO_CACHE", "1")
    llm = CountingLLM(model="m")
    ask(llm, 1)
    ask(llm, 1)
    assert llm.sent == [1, 1]
    monkeypatch.setenv("SOCRATIC_NO_CACHE", "0")
    ask(llm, 1)
    ask(llm, 1)
    assert llm.sent == [1, 1, 1]


def test_the_build_context_chooses_the_cache(private_cache: Cache, tmp_path: Path) -> None:
    from socratic.context import BuildContext

    off = CountingLLM(model="m").bind(BuildContext(cache=None))
    ask(off, 1)
    ask(off, 1)
    assert off.sent == [1, 1]
    own = Cache(tmp_path / "own")
    mine = CountingLLM(model="m").bind(BuildContext(cache=own))
    ask(mine, 1)
    ask(mine, 1)
    assert mine.sent == [1] and own.stats()["entries"] == 1
    assert private_cache.stats()["entries"] == 0  # the default cache was not touched
    default = CountingLLM(model="m")  # unbound: the default cache
    ask(default, 1)
    ask(default, 1)
    assert default.sent == [1] and private_cache.stats()["entries"] == 1


def test_usage_counts_requests_hits_and_tokens(private_cache: Cache) -> None:
    llm = CountingLLM(model="m")
    with usage.track() as outer:
        with usage.track() as inner:
            ask(llm, 3, prompt="three words here")
        ask(llm, 5, prompt="three words here")
        ask(llm, 5, prompt="three words here")
    assert inner.as_dict() == {"requests": 1, "cache_hits": 0, "retries": 0, "prompt_tokens": 3,
                               "completion_tokens": 6, "errors": 0}
    assert (outer.requests, outer.cache_hits) == (2, 3 + 5)
    assert (outer.prompt_tokens, outer.completion_tokens) == (6, 6 + 4)


def test_cache_and_recordings_are_private(tmp_path: Path) -> None:
    import json
    import stat

    from socratic.llm.replay import ReplayLLM

    cache = Cache(tmp_path / "cache")
    cache.put("llm", "k", {"text": "secret answer"})
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)  # noqa: E731
    assert mode(tmp_path / "cache") == 0o700
    for f in (tmp_path / "cache").iterdir():
        assert mode(f) == 0o600, f
    source = tmp_path / "source.jsonl"
    source.write_text(json.dumps({"prompt": "hello", "texts": ["hi!"], "match": "messages"}) + "\n")
    rec = ReplayLLM(path=str(tmp_path / "rec.jsonl"), mode="record",
                    record_from={"backend": "replay", "path": str(source)})
    assert rec.generate("hello").text == "hi!"
    assert mode(tmp_path / "rec.jsonl") == 0o600
    assert json.loads((tmp_path / "rec.jsonl").read_text())["texts"] == ["hi!"]


def test_a_broken_database_file_never_fails_a_call(tmp_path):
    cache = Cache(tmp_path / "c")
    cache.put("llm", "k", {"text": "a"})
    cache.close()
    (tmp_path / "c" / "cache.sqlite").write_bytes(b"this is not a database" * 100)
    for suffix in ("-wal", "-shm"):
        (tmp_path / "c" / f"cache.sqlite{suffix}").unlink(missing_ok=True)
    with pytest.warns(UserWarning, match="going on without it"):
        assert cache.get("llm", "k") is None
    assert cache.get_many("llm", ["k"]) == {}
    cache.put("llm", "k2", {"text": "b"})  # skipped, no error
