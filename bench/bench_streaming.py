"""Streaming dataset runs: throughput and peak memory of the real ``socratic run --data`` CLI.

Runs ``socratic run GRAPH --data rows.jsonl --out out.jsonl --no-progress`` in a fresh child
process over 1,000 and over 100,000 rows of a trivial graph (one ``text.template`` node) and
reports rows per second and the child's peak resident memory (``ru_maxrss`` of that one child,
read with ``os.wait4``). Memory must stay flat: target, the 100k run's peak within 10% of the
1k run's. All files live in a temporary folder (cache disabled).

Run: ``python bench/bench_streaming.py [--rows 1000 100000] [--concurrency 8]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GRAPH = """\
name: stream_bench
inputs:
  topic: str
  n: {type: int, default: 0}
nodes:
  greet:
    type: text.template
    template: "Tell me about {{ topic }} number {{ n }}."
    topic: ${inputs.topic}
    n: ${inputs.n}
outputs:
  text: ${greet.output}
"""


def socratic_command() -> list[str]:
    """The installed ``socratic`` entry point next to this Python, else ``python -m socratic.cli``."""
    script = Path(sys.executable).with_name("socratic")
    return [str(script)] if script.exists() else [sys.executable, "-m", "socratic.cli"]


def write_rows(path: Path, n: int) -> None:
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            f.write(json.dumps({"topic": f"owls {i % 97}", "n": i, "_id": f"row-{i}"}) + "\n")


def run_child(cmd: list[str], env: dict[str, str]) -> tuple[float, int, int, str]:
    """Run ``cmd``; return (seconds, exit code, peak RSS in KiB of that child, stderr)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    assert proc.stderr is not None
    err = proc.stderr.read().decode(errors="replace")  # small: --no-progress, summary on stdout
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return elapsed, proc.returncode, usage.ru_maxrss, err


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[1000, 100000])
    ap.add_argument("--concurrency", type=int, default=8)
    args = ap.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="socratic-bench-stream-"))
    env = {**os.environ, "SOCRATIC_NO_CACHE": "1", "SOCRATIC_CACHE_DIR": str(tmp / "cache")}
    results = []
    try:
        graph = tmp / "graph.yaml"
        graph.write_text(GRAPH, encoding="utf-8")
        for n in args.rows:
            data, out = tmp / f"rows{n}.jsonl", tmp / f"out{n}.jsonl"
            write_rows(data, n)
            cmd = [*socratic_command(), "run", str(graph), "--data", str(data), "--out", str(out),
                   "--no-progress", "--concurrency", str(args.concurrency)]
            secs, code, rss_kib, err = run_child(cmd, env)
            if code != 0:
                print(f"socratic run failed (exit {code}) on {n} rows:\n{err}", file=sys.stderr)
                return 1
            with out.open(encoding="utf-8") as f:
                lines = sum(1 for _ in f)
            if lines != n:
                print(f"expected {n} output lines, got {lines}", file=sys.stderr)
                return 1
            results.append((n, secs, rss_kib))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"# bench_streaming: Python {platform.python_version()}, {os.cpu_count()} cores; one child "
          f"process per run (single-threaded event loop), --concurrency {args.concurrency}")
    print(f"{'rows':>8} {'wall s':>8} {'rows/s':>9} {'peak RSS MiB':>13}")
    for n, secs, rss in results:
        print(f"{n:>8} {secs:8.2f} {n / secs:9.0f} {rss / 1024:13.1f}")
    if len(results) >= 2:
        (n0, s0, r0), (n1, s1, r1) = results[0], results[-1]
        if s1 > s0:
            print(f"steady-state throughput (difference of the two runs): {(n1 - n0) / (s1 - s0):.0f} rows/s")
        growth = (r1 - r0) / r0 * 100
        verdict = "met" if growth <= 10 else "NOT met"
        print(f"target: {n1} rows peak within 10% of {n0} rows peak: {verdict} ({growth:+.1f}%)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
