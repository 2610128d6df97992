"""A graph of two models runs as separate actor pools: each model is built and loaded once per
actor, in its own process (neither the driver nor the other pool's), and batchable nodes get
real batches of rows. The response cache is shared safely by the workers."""

from __future__ import annotations

import json
import os

from socratic.cache import Cache
from socratic.context import BuildContext
from socratic.engines import plan_stages
from socratic.results import read_results
from socratic.runner import RowRunner
from socratic.spec import load_graph_text

from .helpers import log_lines

TWO_MODELS = """
name: two-models
inputs: {{text: str}}
models:
  first: {{backend: ray-logging, log: "{log}", tag: A, resources: {{batch_size: 8}}}}
  second: {{backend: ray-logging, log: "{log}", tag: B, resources: {{batch_size: 8, num_cpus: 0.5}}}}
nodes:
  one: {{type: llm.generate, model: first, template: "{{{{ t }}}}", t: "${{inputs.text}}"}}
  light: {{type: test_ray.pid, text: "${{one.text}}"}}
  two: {{type: llm.generate, model: second, template: "again {{{{ t }}}}", t: "${{one.text}}"}}
outputs: {{one: "${{one.text}}", two: "${{two.text}}", light_pid: "${{light.output}}"}}
"""


def test_two_models_are_separate_actor_pools(ray_engine, tmp_path):
    log = tmp_path / "log"
    log.mkdir()
    graph = load_graph_text(TWO_MODELS.format(log=log))
    plan = plan_stages(graph)
    assert [(s.kind, s.nodes, list(s.models)) for s in plan.stages] == [
        ("model", ["one"], ["first"]), ("task", ["light"], []), ("model", ["two"], ["second"])]
    data = tmp_path / "rows.jsonl"
    rows = [{"text": f"row {i}" if i != 5 else "FAIL here"} for i in range(32)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = RowRunner(graph, engine=ray_engine).run(data, tmp_path / "out.jsonl")
    assert summary.as_dict() == {"rows": 32, "done": 31, "failed": 1, "skipped": 0}
    records = read_results(tmp_path / "out.jsonl")
    assert records[5]["node"] == "one" and "cannot answer 'FAIL here'" in records[5]["error"]
    ok = [r["outputs"] for r in records if "outputs" in r]
    pid_a = {o["one"].split(":")[0] for o in ok}
    pid_b = {o["two"].split(":")[0] for o in ok}
    assert len(pid_a) == len(pid_b) == 1, "one actor per pool"
    (a,), (b,) = pid_a, pid_b
    assert a.startswith("A(") and b.startswith("B(") and a[2:-1] != b[2:-1]
    workers = {a[2:-1], b[2:-1]} | {str(o["light_pid"]) for o in ok}
    assert str(os.getpid()) not in workers, "nothing ran in the driver"
    assert ok[0]["two"].endswith(f"again {ok[0]['one']}")
    # each model loaded once, by its own actor
    assert log_lines(log, "load-A") == [a[2:-1]] and log_lines(log, "load-B") == [b[2:-1]]
    sizes = [int(n) for n in log_lines(log, "batch-A")]
    assert sum(sizes) >= 32 and max(sizes) == 8, f"real batches of rows, got {sizes}"


CACHED = """
name: cached
inputs: {{text: str}}
models:
  llm: {{backend: ray-logging, log: "{log}", tag: C, resources: {{replicas: 2, num_cpus: 0.4, batch_size: 4}}}}
nodes:
  say: {{type: llm.generate, model: llm, template: "{{{{ t }}}}", t: "${{inputs.text}}"}}
outputs: {{said: "${{say.text}}"}}
"""


def test_many_workers_share_one_cache(ray_engine, tmp_path):
    log = tmp_path / "log"
    log.mkdir()
    cache = Cache(tmp_path / "cache")
    graph = load_graph_text(CACHED.format(log=log), context=BuildContext(cache=cache))
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps({"text": f"q{i}"}) + "\n" for i in range(64)))
    RowRunner(graph, engine=ray_engine).run(data, tmp_path / "first.jsonl")
    assert len(log_lines(log, "load-C")) == 2, "two actors, both writing the cache"
    assert cache.stats()["entries"] == 64
    first = read_results(tmp_path / "first.jsonl")
    # which actor gets which batch is Ray's choice: on a loaded machine one may take them all
    assert 1 <= len({r["outputs"]["said"].split(":")[0] for r in first}) <= 2
    batches = len(log_lines(log, "batch-C"))
    RowRunner(graph, engine=ray_engine).run(data, tmp_path / "second.jsonl")
    assert len(log_lines(log, "batch-C")) == batches + 16  # batches still formed (of 4 rows) ...
    assert read_results(tmp_path / "second.jsonl") == first  # ... but every answer from the cache
