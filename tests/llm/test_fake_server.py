"""The fake OpenAI server itself: recorded bodies, streaming, faults, keep-alive, concurrency."""

from __future__ import annotations

import http.client
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest
from openai import AsyncOpenAI, OpenAI

from socratic.testing import FakeOpenAIServer, Fault

IMAGE = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGBgAAAABQABpfZFQAAAAABJRU5ErkJggg=="
SCHEMA = {"type": "json_schema", "json_schema": {
    "name": "label", "strict": True,
    "schema": {"type": "object", "properties": {"label": {"type": "string"}},
               "required": ["label"], "additionalProperties": False}}}
USER = [{"role": "user", "content": "one two three four"}]


def client(server: FakeOpenAIServer, **kw) -> OpenAI:
    return OpenAI(**{"base_url": server.base_url, "api_key": "k", "max_retries": 0, **kw})


def raw(server: FakeOpenAIServer, body: bytes | dict, path: str = "/v1/chat/completions",
        conn: http.client.HTTPConnection | None = None) -> http.client.HTTPResponse:
    """POST with the standard library's client; the response is read (``.data``) before return."""
    conn = conn or http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    conn.request("POST", path, data, {"Content-Type": "application/json"})
    resp = conn.getresponse()
    resp.data = resp.read()  # type: ignore[attr-defined]
    return resp


# -- recorded requests ---------------------------------------------------------------------------
def test_request_body_is_recorded_exactly():
    messages = [
        {"role": "system", "content": "label the image"},
        {"role": "user", "content": [
            {"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {"url": IMAGE, "detail": "low"}},
        ]},
    ]
    with FakeOpenAIServer() as server:
        out = client(server).chat.completions.create(
            model="vlm", messages=messages, response_format=SCHEMA, temperature=0, max_tokens=50,
            seed=7)
        assert server.bodies == [{"model": "vlm", "messages": messages, "response_format": SCHEMA,
                                  "temperature": 0, "max_tokens": 50, "seed": 7}]
        seen = server.requests[0]
        assert (seen.method, seen.path, seen.fault, seen.authorized) == (
            "POST", "/v1/chat/completions", "ok", True)
    # content parts read as text, a data URL image as [image WxH]; usage counts words
    assert out.choices[0].message.content == "echo: what is this? [image 1x1]"
    assert (out.usage.prompt_tokens, out.usage.completion_tokens) == (3 + 5, 6)


def test_bodies_from_concurrent_requests_are_all_kept():
    with FakeOpenAIServer(latency=0.05) as server, ThreadPoolExecutor(16) as pool:
        sdk = client(server)
        texts = list(pool.map(lambda i: sdk.completions.create(model="m", prompt=f"p{i}")
                              .choices[0].text, range(64)))
        assert texts == [f"echo: p{i}" for i in range(64)]
        assert sorted(b["prompt"] for b in server.bodies) == sorted(f"p{i}" for i in range(64))
        assert server.count == 64


def test_reply_replaces_the_echo_and_sees_the_body():
    def reply(body: dict) -> str:
        return json.dumps({"label": body["messages"][-1]["content"]})

    with FakeOpenAIServer(reply=reply) as server:
        out = client(server).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "cat"}], response_format=SCHEMA)
    assert json.loads(out.choices[0].message.content) == {"label": "cat"}


def test_models_health_and_unknown_routes():
    with FakeOpenAIServer(models=["a", "b"]) as server:
        assert [m.id for m in client(server).models.list()] == ["a", "b"]
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        conn.request("GET", "/health")
        assert json.loads(conn.getresponse().read()) == {"status": "ok"}
        assert raw(server, {}, "/v1/embeddings", conn).status == 404
        assert server.count == 0  # listings, health and unknown routes are not counted
    with FakeOpenAIServer() as server:
        assert [m.id for m in client(server).models.list()] == ["echo"]


def test_bad_bodies_get_400():
    with FakeOpenAIServer() as server:
        bad_json = raw(server, b"{not json")
        assert bad_json.status == 400 and b"not a JSON object" in bad_json.data
        no_messages = raw(server, {"model": "m"})
        assert no_messages.status == 400 and b"'messages' is required" in no_messages.data
        bad_n = raw(server, {"model": "m", "messages": USER, "n": "many"})
        assert bad_n.status == 400 and json.loads(bad_n.data)["error"]["code"] == "invalid_request"
        assert server.bodies == [{}, {"model": "m"}, {"model": "m", "messages": USER, "n": "many"}]


# -- streaming ------------------------------------------------------------------------------------
@pytest.mark.parametrize("options", [
    {},
    {"n": 2, "temperature": 0.5},
    {"max_tokens": 3},
    {"stop": ["three"]},
])
def test_stream_sync_reassembles_the_plain_answer(options):
    with FakeOpenAIServer() as server:
        sdk = client(server)
        plain = sdk.chat.completions.create(model="m", messages=USER, **options)
        texts: dict[int, str] = {}
        finish: dict[int, str | None] = {}
        chunks = list(sdk.chat.completions.create(model="m", messages=USER, stream=True, **options))
        for chunk in chunks:
            assert chunk.object == "chat.completion.chunk" and chunk.id == chunks[0].id
            for c in chunk.choices:
                texts[c.index] = texts.get(c.index, "") + (c.delta.content or "")
                finish[c.index] = c.finish_reason or finish.get(c.index)
        assert server.bodies[1]["stream"] is True
    assert texts == {c.index: c.message.content for c in plain.choices}
    assert finish == {c.index: c.finish_reason for c in plain.choices}
    assert len(chunks) > len(plain.choices) * 2  # word by word, not one chunk


async def test_stream_async_with_usage_chunk():
    with FakeOpenAIServer() as server:
        sdk = AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        plain = await sdk.chat.completions.create(model="m", messages=USER)
        stream = await sdk.chat.completions.create(
            model="m", messages=USER, stream=True, stream_options={"include_usage": True})
        chunks = [chunk async for chunk in stream]
        await sdk.close()
        assert server.bodies[1]["stream_options"] == {"include_usage": True}
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == plain.choices[0].message.content == "echo: one two three four"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices == [] and chunks[-1].usage == plain.usage


def test_stream_legacy_completions():
    with FakeOpenAIServer() as server:
        sdk = client(server)
        plain = sdk.completions.create(model="m", prompt="a b c", max_tokens=2)
        chunks = list(sdk.completions.create(model="m", prompt="a b c", max_tokens=2, stream=True))
    assert "".join(c.choices[0].text for c in chunks) == plain.choices[0].text == "echo: a"
    assert chunks[-1].choices[0].finish_reason == plain.choices[0].finish_reason == "length"


def test_stream_wire_format():
    with FakeOpenAIServer() as server:
        resp = raw(server, {"model": "m", "messages": USER, "stream": True})
    assert resp.status == 200 and resp.getheader("Content-Type") == "text/event-stream"
    assert resp.getheader("Transfer-Encoding") == "chunked"
    events = resp.data.decode().split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]
    assert all(e.startswith("data: {") for e in events[:-2])


# -- faults ---------------------------------------------------------------------------------------
def test_status_fault_with_retry_after():
    with FakeOpenAIServer(script=[Fault.status(429, retry_after=0.5), Fault.status(500)]) as server:
        first = raw(server, {"model": "m", "messages": USER})
        assert first.status == 429 and first.getheader("Retry-After") == "0.5"
        assert json.loads(first.data)["error"] == {
            "message": "injected fault 429", "type": "invalid_request_error", "param": None,
            "code": "injected"}
        with pytest.raises(openai.InternalServerError, match="injected fault 500"):
            client(server).chat.completions.create(model="m", messages=USER)
        assert client(server).chat.completions.create(model="m", messages=USER).choices
        assert [r.fault for r in server.requests] == ["status", "status", "ok"]


def test_sdk_retries_through_scripted_faults_in_order():
    with FakeOpenAIServer(script=[Fault.status(503), Fault.ok(), Fault.status(500)]) as server:
        sdk = client(server, max_retries=2)
        assert sdk.chat.completions.create(model="m", messages=USER).choices
        assert sdk.chat.completions.create(model="m", messages=USER).choices
        server.push(Fault.disconnect())
        assert sdk.chat.completions.create(model="m", messages=USER).choices
        assert [r.fault for r in server.requests] == ["status", "ok", "status", "ok", "disconnect", "ok"]
        server.push(Fault.status(500))
        server.reset()
        assert server.count == 0
        assert client(server).chat.completions.create(model="m", messages=USER).choices


def test_hang_is_a_timeout_or_a_late_answer():
    with FakeOpenAIServer(script=[Fault.hang(2.0), Fault.hang(0.3)]) as server:
        t0 = time.monotonic()
        with pytest.raises(openai.APITimeoutError):
            client(server, timeout=0.3).chat.completions.create(model="m", messages=USER)
        assert time.monotonic() - t0 < 1.5
        t0 = time.monotonic()
        out = client(server, timeout=5).chat.completions.create(model="m", messages=USER)
        assert out.choices[0].message.content == "echo: one two three four"
        assert time.monotonic() - t0 >= 0.3


def test_malformed_body_is_sent_as_is():
    with FakeOpenAIServer(script=[Fault.malformed('{"choices": [oops'), Fault.malformed("x{")]) as s:
        resp = raw(s, {"model": "m", "messages": USER})
        assert (resp.status, resp.data) == (200, b'{"choices": [oops')
        stream = client(s).chat.completions.create(model="m", messages=USER, stream=True)
        with pytest.raises(json.JSONDecodeError):
            list(stream)


def test_disconnect_closes_without_an_answer():
    with FakeOpenAIServer(script=[Fault.disconnect(), Fault.disconnect()]) as server:
        with pytest.raises(http.client.RemoteDisconnected):
            raw(server, {"model": "m", "messages": USER})
        with pytest.raises(openai.APIConnectionError):
            client(server).chat.completions.create(model="m", messages=USER)
        assert client(server).chat.completions.create(model="m", messages=USER).choices
        assert [r.fault for r in server.requests] == ["disconnect", "disconnect", "ok"]


def test_wrong_key_and_unknown_model():
    with FakeOpenAIServer(api_key="right", models=["tiny"]) as server:
        with pytest.raises(openai.AuthenticationError, match="Incorrect API key provided: k"):
            client(server).chat.completions.create(model="tiny", messages=USER)
        ok = OpenAI(base_url=server.base_url, api_key="right", max_retries=0)
        with pytest.raises(openai.NotFoundError, match="model `nope` does not exist"):
            ok.chat.completions.create(model="nope", messages=USER)
        assert ok.chat.completions.create(model="tiny", messages=USER).choices
        assert [r.authorized for r in server.requests] == [False, True, True]


# -- connections, latency, stop -------------------------------------------------------------------
def test_keep_alive_serves_many_requests_on_one_connection():
    with FakeOpenAIServer(script=[Fault.status(429, retry_after=1)]) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        statuses, sockets = [], set()
        for body in [{"model": "m", "messages": USER},  # the 429
                     {"model": "m", "messages": USER, "stream": True},
                     {"model": "m", "prompt": "x"}]:
            resp = raw(server, body, "/v1/completions" if "prompt" in body else
                       "/v1/chat/completions", conn)
            statuses.append(resp.status)
            assert not resp.will_close
            sockets.add(conn.sock)
        conn.request("GET", "/v1/models")
        assert conn.getresponse().read()
        sockets.add(conn.sock)
        assert statuses == [429, 200, 200] and server.count == 3
        assert len(sockets) == 1 and None not in sockets  # one connection throughout


def test_latency_runs_concurrently():
    with FakeOpenAIServer(latency=0.3) as server, ThreadPoolExecutor(32) as pool:
        sdk = client(server)
        t0 = time.monotonic()
        list(pool.map(lambda _: sdk.chat.completions.create(model="m", messages=USER), range(32)))
        elapsed = time.monotonic() - t0
    assert 0.3 <= elapsed < 1.2  # 32 x 0.3 s one after another would be 9.6 s


def test_stop_closes_connections_and_wakes_waiting_requests():
    server = FakeOpenAIServer().start()
    idle = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    assert raw(server, {"model": "m", "prompt": "x"}, "/v1/completions", idle).status == 200
    server.push(Fault.hang(30))
    errors: list[BaseException] = []

    def hang() -> None:
        try:
            raw(server, {"model": "m", "messages": USER})
        except Exception as exc:
            errors.append(exc)

    waiting = threading.Thread(target=hang)
    waiting.start()
    while server.count < 2:
        time.sleep(0.01)
    t0 = time.monotonic()
    server.stop()
    server.stop()  # twice is fine
    waiting.join(5)
    assert time.monotonic() - t0 < 2 and not waiting.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], ConnectionError)
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        raw(server, {"model": "m", "prompt": "x"}, "/v1/completions", idle)
