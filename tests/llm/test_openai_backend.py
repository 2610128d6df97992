"""The openai backend against the fault-injecting fake server: answers, retries, errors, cache."""

from __future__ import annotations

import itertools
import json
import socket
import sys
import time

import pytest

from socratic import usage
from socratic.cache import get_cache
from socratic.errors import InputError, LLMError, ModelLoadError
from socratic.llm.openai_backend import OpenAILLM
from socratic.testing import FakeOpenAIServer, Fault

from .conftest import FAST_RETRIES

SECRET = "sk-test-SECRET-0123456789abcdef"


@pytest.fixture(autouse=True, params=["direct", "sdk"])
def transport(request, monkeypatch) -> str:
    """Every test runs on both transports: the lean aiohttp client and the official SDK."""
    monkeypatch.setattr(OpenAILLM, "_direct", lambda self: request.param == "direct")
    return request.param


def make(server: FakeOpenAIServer, **options) -> OpenAILLM:
    return OpenAILLM(**{"model": "tiny", "base_url": server.base_url, "cache": False,
                        **FAST_RETRIES, **options})


def gaps(server: FakeOpenAIServer) -> list[float]:
    times = [r.time for r in server.requests]
    return [b - a for a, b in itertools.pairwise(times)]


async def test_chat_answer_usage_and_model(fake):
    llm = make(fake, max_tokens=8)
    with usage.track() as stats:
        out = await llm.agenerate({"messages": [{"role": "system", "content": "be brief"},
                                                {"role": "user", "content": "hello there"}]})
    assert out.texts == ["echo: hello there"]
    assert out.model == "tiny"
    assert (out.usage.prompt_tokens, out.usage.completion_tokens) == (4, 3)
    assert (stats.requests, stats.prompt_tokens, stats.completion_tokens) == (1, 4, 3)
    body = fake.requests[0].body
    assert fake.requests[0].path == "/v1/chat/completions"
    assert body["max_tokens"] == 8 and "n" not in body


async def test_legacy_completions_and_stop(fake):
    llm = make(fake, api="completions")
    out = await llm.agenerate({"prompt": "one two. three", "stop": ["."]})
    assert out.texts == ["echo: one two"]
    assert fake.requests[0].path == "/v1/completions"
    assert fake.requests[0].body["prompt"] == "one two. three"


async def test_n_samples_in_one_request(fake):
    out = await make(fake).agenerate({"prompt": "x", "n": 3, "temperature": 0.9})
    assert out.texts == ["echo: x", "echo: x #1", "echo: x #2"]
    assert fake.count == 1 and fake.requests[0].body["n"] == 3


async def test_n_made_up_when_server_ignores_it():
    with FakeOpenAIServer(ignore_n=True) as server, usage.track() as stats:
        out = await make(server).agenerate({"prompt": "x", "n": 3})
    assert len(out.texts) == 3
    assert server.count == 3
    assert [r.body.get("n") for r in server.requests] == [3, 2, None]
    assert stats.requests == 3


async def test_429_retry_after_is_honoured(fake):
    fake.push(Fault.status(429, retry_after=0.3))
    with usage.track() as stats:
        out = await make(fake).agenerate("hi")
    assert out.text == "echo: hi"
    assert fake.count == 2 and stats.retries == 1
    assert 0.28 <= gaps(fake)[0] < 1.0  # the 0.3 s the server asked for


async def test_retry_after_is_capped(fake):
    fake.push(Fault.status(429, retry_after=30))
    t0 = time.monotonic()
    await make(fake, retry_after_max=0.1).agenerate("hi")
    assert fake.count == 2 and time.monotonic() - t0 < 5.0
    assert 0.09 <= gaps(fake)[0] < 1.5  # capped at 0.1 s instead of 30 s


async def test_5xx_backoff_then_success(fake):
    fake.push(Fault.status(500), Fault.status(503))
    llm = make(fake, backoff_initial=0.1, backoff_max=1.0)
    with usage.track() as stats:
        out = await llm.agenerate("hi")
    assert out.text == "echo: hi" and fake.count == 3 and stats.retries == 2
    first, second = gaps(fake)
    assert 0.05 <= first < 0.5  # uniform in [0.05, 0.1] + overhead
    assert 0.1 <= second < 0.7  # uniform in [0.1, 0.2] + overhead


async def test_5xx_gives_up_after_max_attempts(fake):
    fake.push(*[Fault.status(500)] * 5)
    with pytest.raises(LLMError) as err, usage.track() as stats:
        await make(fake, max_attempts=3).agenerate("hi")
    msg = str(err.value)
    assert "HTTP 500" in msg and "after 3 attempts" in msg and "'tiny'" in msg
    assert fake.base_url in msg
    assert fake.count == 3 and stats.retries == 2 and stats.errors == 1


async def test_timeout_is_retried(fake):
    fake.push(Fault.hang(3.0))
    out = await make(fake, timeout=0.3).agenerate("hi")
    assert out.text == "echo: hi" and fake.count == 2


async def test_timeouts_give_up_with_clear_message(fake):
    fake.push(Fault.hang(3.0), Fault.hang(3.0))
    t0 = time.monotonic()
    with pytest.raises(LLMError, match=r"timed out \(0.2s per attempt, after 2 attempts\)"):
        await make(fake, timeout=0.2, max_attempts=2).agenerate("hi")
    assert time.monotonic() - t0 < 2.0


async def test_dropped_connection_is_retried(fake):
    fake.push(Fault.disconnect())
    assert (await make(fake).agenerate("hi")).text == "echo: hi"
    assert fake.count == 2


@pytest.mark.parametrize("body", ['{"choices": [oops', '{"foo": 1}', '{"choices": []}'])
async def test_malformed_body_fails_at_once(fake, body):
    fake.push(Fault.malformed(body))
    with pytest.raises(LLMError, match=r"malformed response from model 'tiny' at http://127"):
        await make(fake).agenerate("hi")
    assert fake.count == 1


async def test_401_fails_at_once_without_showing_the_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    with FakeOpenAIServer(api_key="the-right-key") as server:
        with pytest.raises(LLMError) as err:
            await make(server).agenerate("hi")
        assert server.count == 1
    msg = str(err.value)
    assert "HTTP 401" in msg and "OPENAI_API_KEY" in msg and server.base_url in msg
    assert SECRET not in msg and "SECRET-0123" not in msg
    assert err.value.__cause__ is None and err.value.__suppress_context__


async def test_right_key_from_named_variable(monkeypatch):
    monkeypatch.setenv("MY_LLM_API_KEY", "the-right-key")
    with FakeOpenAIServer(api_key="the-right-key") as server:
        out = await make(server, api_key_env="MY_LLM_API_KEY").agenerate("hi")
        assert out.text == "echo: hi" and server.requests[0].authorized


def test_a_graph_cannot_send_keys_to_a_server_of_its_choosing(monkeypatch):
    from socratic.errors import ModelLoadError
    from socratic.llm.openai_backend import OpenAILLM

    with pytest.raises(ValueError, match="api_key_env must name an API-key variable"):
        OpenAILLM(model="m", api_key_env="AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-user-secret")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("SOCRATIC_TRUSTED_HOSTS", raising=False)
    llm = OpenAILLM(model="m", base_url="http://collector.example.invalid/v1")
    with pytest.raises(ModelLoadError, match="refusing to send OPENAI_API_KEY to collector") as err:
        llm.resource()  # nothing is sent: the check runs before any client exists
    assert "sk-user-secret" not in str(err.value)
    monkeypatch.setenv("SOCRATIC_TRUSTED_HOSTS", "collector.example.invalid")
    assert OpenAILLM(model="m", base_url="http://collector.example.invalid/v1").resource()


async def test_unknown_model_404_fails_at_once(fake):
    with pytest.raises(LLMError) as err:
        await make(fake, model="nope").agenerate("hi")
    assert "HTTP 404" in str(err.value) and "'nope'" in str(err.value)
    assert "does not exist" in str(err.value)
    assert fake.count == 1


async def test_400_fails_at_once(fake):
    fake.push(Fault.status(400, message="bad temperature"))
    with pytest.raises(LLMError, match=r"HTTP 400 .*bad temperature"):
        await make(fake).agenerate("hi")
    assert fake.count == 1


def test_missing_key_names_the_variable():
    llm = OpenAILLM(model="gpt-4o-mini", base_url="https://api.example.invalid/v1")
    with pytest.raises(ModelLoadError, match=r"set the environment variable OPENAI_API_KEY"):
        llm.generate("hi")
    other = OpenAILLM(model="m", base_url="https://api.example.invalid/v1", api_key_env="K9_API_KEY")
    with pytest.raises(ModelLoadError, match=r"variable K9_API_KEY"):
        other.generate("hi")


def test_no_key_needed_for_loopback_or_when_disabled(fake):
    assert make(fake).generate("a").text == "echo: a"
    assert not fake.requests[0].authorized or fake.api_key is None
    keyless = OpenAILLM(model="m", base_url="https://api.example.invalid/v1", api_key_env=None)
    assert keyless.resource().api_key == "no-key"


async def test_env_base_url_and_key_are_honoured(monkeypatch):
    with FakeOpenAIServer(api_key="k-env") as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "k-env")
        llm = OpenAILLM(model="tiny", cache=False)
        assert (await llm.agenerate("hi")).text == "echo: hi"
        assert server.requests[0].authorized


async def test_unreachable_base_url_after_retries():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    llm = OpenAILLM(model="tiny", base_url=f"http://127.0.0.1:{port}/v1", cache=False,
                    max_attempts=3, **FAST_RETRIES)
    with pytest.raises(LLMError) as err, usage.track() as stats:
        await llm.agenerate("hi")
    assert f"could not connect to model 'tiny' at http://127.0.0.1:{port}/v1 after 3 attempts" in (
        str(err.value)
    )
    assert stats.retries == 2


@pytest.mark.parametrize("bad", [{"n": 0}, {"n": 1000}, {"temperature": 3.0}, {"top_p": 0}])
async def test_out_of_range_request_is_input_error(fake, bad):
    with pytest.raises(InputError, match="invalid LLM request"):
        await make(fake).agenerate({"prompt": "x", **bad})
    assert fake.count == 0


def test_config_errors_are_caught_early():
    with pytest.raises(ValueError, match="needs a 'model'"):
        OpenAILLM()
    with pytest.raises(ValueError, match="Extra inputs"):
        OpenAILLM(model="m", api_key="sk-in-yaml")
    with pytest.raises(ValueError):
        OpenAILLM(model="m", api="embeddings")


async def test_second_identical_request_hits_the_cache(fake, monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    # a cache of its own: the bytes are read below, and a process that opens and closes a SQLite
    # file outside SQLite drops its locks on it (POSIX), which broke the session's shared cache
    # for later tests whose Ray workers wrote to it ("disk I/O error")
    monkeypatch.setenv("SOCRATIC_CACHE_DIR", str(tmp_path / "cache"))
    llm = make(fake, cache=True)
    request = {"prompt": "cache me", "temperature": 0.7, "n": 2}
    first = await llm.agenerate(request)
    with usage.track() as stats:
        second = await llm.agenerate(request)
    assert second.texts == first.texts and second.cached == 2
    assert fake.count == 1 and stats.requests == 0 and stats.cache_hits == 2
    # a third sample of the same request: only the missing one is sent
    third = await llm.agenerate({**request, "n": 3})
    assert third.texts[:2] == first.texts and third.cached == 2 and fake.count == 2
    assert fake.requests[1].body.get("n") is None
    cache_dir = get_cache().directory
    assert cache_dir == tmp_path / "cache"
    get_cache().close()
    for f in cache_dir.glob("cache.sqlite*"):
        assert SECRET.encode() not in f.read_bytes()


def test_module_import_is_light():
    import subprocess

    code = ("import sys, socratic.llm.openai_backend, socratic.llm.replay, socratic.llm.hf, "
            "socratic.llm.langchain_backend, socratic.models; "
            "print(sorted(m for m in ('openai', 'torch', 'transformers', 'langchain_core', "
            "'tenacity') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_repeated_sync_calls_close_their_clients(fake, caplog):
    import gc

    llm = make(fake)
    with caplog.at_level("ERROR", logger="asyncio"):
        for i in range(3):
            assert llm.generate(f"x{i}").text == f"echo: x{i}"
            gc.collect()
    assert len(llm._clients) == 1
    assert not [r for r in caplog.records if "Event loop is closed" in r.getMessage()]


async def test_max_completion_tokens_field(fake):
    await make(fake, max_tokens_field="max_completion_tokens").agenerate(
        {"prompt": "a b c d", "max_tokens": 2})
    body = fake.requests[0].body
    assert body["max_completion_tokens"] == 2 and "max_tokens" not in body


@pytest.mark.parametrize("body, text, expected", [
    ({"error": {"message": "The model 'gpt-9' does not exist", "type": "invalid_request_error"}}, None,
     "The model 'gpt-9' does not exist"),
    ({"detail": "Model gpt-9 not found on this server"}, None, "Model gpt-9 not found on this server"),
    ({"detail": [{"loc": ["body", "model"], "msg": "field required"}]}, None, "field required"),
    (None, "upstream exploded: no such model", "upstream exploded: no such model"),
])
def test_the_servers_own_error_text_is_kept(body, text, expected):
    import httpx
    import openai

    from socratic.llm.openai_errors import to_llm_error

    payload = json.dumps(body) if body is not None else text
    response = httpx.Response(400, request=httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions"),
                              text=payload)
    exc = openai.BadRequestError("Error code: 400", response=response, body=body)
    err = to_llm_error(exc, model="gpt-9", base_url="http://127.0.0.1:9/v1", attempts=1, timeout=5,
                       key_env=None, secrets=[])
    assert str(err).startswith("HTTP 400 from model 'gpt-9' at http://127.0.0.1:9/v1: ")
    assert expected in str(err) and "Error code: 400" not in str(err)
