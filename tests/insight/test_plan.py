"""`socratic plan`: calls, cache, tokens and the completion bound per model, with nothing sent;
`--sample` measures seconds per call; `run --data` prints a one-line estimate before large runs."""

from __future__ import annotations

import json

from socratic.cli import main
from socratic.plan import CHARS_PER_TOKEN, TOKENS_PER_MESSAGE, count_prompt_tokens, plan_rows, quick_estimate


def _plan(two_step, cache_dir, capsys, *extra):
    assert main(["plan", str(two_step), "--data", str(two_step.parent / "rows.jsonl"), "--cache-dir",
                 cache_dir, "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_plan_counts_what_would_be_sent_and_sends_nothing(two_step, cache_dir, server, capsys):
    plan = _plan(two_step, cache_dir, capsys)
    assert server.bodies == []  # nothing reached the server
    llm = plan["models"]["llm"]
    # each row stops at 'ask' (no answer yet): 3 requests counted, 'again' unreached in 3 rows
    assert (llm["calls"], llm["cached"], llm["requests"], llm["unreached"]) == (3, 0, 3, 3)
    # "Say Q: one" etc.: 4 tokens a message + ceil(chars / 4)
    expected = sum(TOKENS_PER_MESSAGE + -(-len(f"Say Q: {w}") // CHARS_PER_TOKEN) for w in ("one", "two", "three"))
    assert llm["prompt_tokens"] == expected and llm["tokens_exact"] is False
    assert llm["completion_bound"] == 3 * 20 and plan["rows_cached"] == 0
    # run for real, then plan again: every call is in the cache
    assert main(["run", str(two_step), "--data", str(two_step.parent / "rows.jsonl"), "--cache-dir", cache_dir,
                 "--out", str(two_step.parent / "out.jsonl"), "--no-progress"]) == 0
    capsys.readouterr()
    sent = len(server.bodies)
    plan = _plan(two_step, cache_dir, capsys)
    llm = plan["models"]["llm"]
    assert (llm["calls"], llm["cached"], llm["rows_cached"], llm["unreached"]) == (6, 6, 3, 0)
    assert llm["prompt_tokens"] == 0 and plan["rows_cached"] == 3 and len(server.bodies) == sent


def test_plan_half_cached_rows_and_the_table(two_step, cache_dir, server, capsys):
    from socratic.cache import Cache
    from socratic.context import BuildContext
    from socratic.spec import load_graph

    graph = load_graph(two_step, context=BuildContext(cache=Cache(cache_dir)))
    graph.run_many([{"text": "two"}])  # row 1 is in the cache, rows 0 and 2 are not
    report = plan_rows(graph, [{"text": w} for w in ("one", "two", "three")])
    llm = report.models["llm"]
    assert (llm.calls, llm.cached, llm.rows_cached, llm.unreached, report.rows_cached) == (4, 2, 1, 2, 1)
    table = report.table()
    assert "rows: 3 (1 finish from the cache alone)" in table and ">=6" in table and "~" in table


def test_sample_measures_seconds_per_call(two_step, cache_dir, server, capsys):
    server.latency = 0.05
    plan = _plan(two_step, cache_dir, capsys, "--sample", "2")
    llm = plan["models"]["llm"]
    assert llm["sampled_calls"] == 4 and 0.05 <= llm["seconds_per_call"] < 5
    assert len(server.bodies) == 4  # only the sampled rows were sent


def test_hf_prompts_are_counted_with_the_tokenizer(tmp_path):
    from socratic.llm.base import LLMRequest
    from socratic.llm.hf import HFLLM
    from socratic.testing import make_tiny_lm, train_tokenizer

    tok = train_tokenizer(["a red circle above a blue square"])
    path = make_tiny_lm(tmp_path / "lm", "gpt2", tokenizer=tok)
    model = HFLLM(model=str(path))
    request = LLMRequest(messages=[{"role": "user", "content": "a red circle"}])
    n, exact = count_prompt_tokens(model, request)
    chat = tok.apply_chat_template([{"role": "user", "content": "a red circle"}], tokenize=False,
                                   add_generation_prompt=True)
    assert exact and n == len(tok(chat)["input_ids"])
    assert not model.loaded  # the tokenizer alone, not the model


def test_run_prints_an_estimate_before_a_large_run(two_step, cache_dir, server, capsys):
    from socratic.spec import load_graph

    assert quick_estimate(load_graph(two_step), 1000) == (
        "estimate: 1000 rows x 2 LLM node(s) (ask, again): 2000 calls before the cache,"
        " <= 30000 completion tokens; `socratic plan` for the details")
    rows = two_step.parent / "many.jsonl"
    rows.write_text("".join(json.dumps({"text": f"w{i}"}) + "\n" for i in range(100)))
    server.latency = 0
    assert main(["run", str(two_step), "--data", str(rows), "--cache-dir", cache_dir, "--out",
                 str(two_step.parent / "many_out.jsonl"), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("estimate: 100 rows x 2 LLM node(s)")
