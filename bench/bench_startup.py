"""CLI start-up time, and proof that no heavy library is imported by ``--help`` or ``validate``.

Times (median of ``--runs`` fresh processes each) ``python -c pass``, ``socratic --help`` and
``socratic validate examples/*.yaml`` (a small temporary graph when ``examples/`` holds none),
then runs ``validate`` under ``python -X importtime``: torch, transformers, open_clip (and
openai, langchain) must not appear, and the five slowest imports are listed.

Run: ``python bench/bench_startup.py [--runs 7]``
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "transformers", "open_clip", "openai", "langchain_core")
FALLBACK_GRAPH = """\
name: startup_bench
inputs: {topic: str}
nodes:
  t: {type: text.template, template: "About {{ topic }}", topic: "${inputs.topic}"}
outputs: {text: "${t.output}"}
"""
_IMPORT_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)\s*$")


def cli() -> list[str]:
    """The installed ``socratic`` entry point next to this Python, else ``python -m socratic.cli``."""
    script = Path(sys.executable).with_name("socratic")
    return [str(script)] if script.exists() else [sys.executable, "-m", "socratic.cli"]


def median_seconds(cmd: list[str], runs: int) -> tuple[float, int]:
    """Median wall time of ``runs`` fresh processes, and the exit code of the last one."""
    times, code = [], 0
    for _ in range(runs):
        t0 = time.perf_counter()
        code = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT).returncode
        times.append(time.perf_counter() - t0)
    return statistics.median(times), code


def import_times(cmd_args: list[str]) -> list[tuple[str, int, int, int]]:
    """(module, self us, cumulative us, depth) for each import of ``socratic CMD_ARGS``."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "socratic.cli", *cmd_args],
        capture_output=True, text=True, cwd=ROOT,
    )
    rows = []
    for line in proc.stderr.splitlines():
        m = _IMPORT_LINE.match(line)
        if m:
            rows.append((m.group(4), int(m.group(1)), int(m.group(2)), len(m.group(3)) // 2))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7, help="fresh processes per command (median shown)")
    args = ap.parse_args(argv)

    graphs = sorted(str(p) for p in (ROOT / "examples").glob("*.yaml"))
    tmp = None
    if not graphs:
        tmp = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)  # noqa: SIM115
        tmp.write(FALLBACK_GRAPH)
        tmp.close()
        graphs = [tmp.name]
    try:
        cases = [
            ("python -c pass", [sys.executable, "-c", "pass"]),
            ("socratic --help", [*cli(), "--help"]),
            (f"socratic validate ({len(graphs)} graph{'s' * (len(graphs) > 1)})", [*cli(), "validate", *graphs]),
        ]
        timings = [(label, *median_seconds(cmd, args.runs)) for label, cmd in cases]
        imports = import_times(["validate", *graphs])
    finally:
        if tmp is not None:
            os.unlink(tmp.name)

    print(f"# bench_startup: Python {platform.python_version()}, {os.cpu_count()} cores, one process at a"
          f" time; median of {args.runs} runs")
    base = timings[0][1]
    print(f"{'command':<32} {'median ms':>10} {'minus python ms':>16} {'exit':>5}")
    for label, sec, code in timings:
        print(f"{label:<32} {sec * 1e3:10.1f} {(sec - base) * 1e3:16.1f} {code:>5}")
    if any(code not in (0,) for _, _, code in timings):
        print("note: a command exited non-zero (an invalid example graph?)")

    names = {name for name, *_ in imports}
    heavy = sorted(n for n in names if n.split(".")[0] in HEAVY)
    print(f"\nimports during validate: {len(imports)} modules;"
          f" heavy ({', '.join(HEAVY)}): {', '.join(heavy) if heavy else 'none'}")
    print(f"{'slowest imports (cumulative)':<40} {'self ms':>8} {'cumul ms':>9}")
    top = sorted((r for r in imports if r[3] == 0), key=lambda r: -r[2])[:5]
    for name, own, cumulative, _ in top:
        print(f"{name:<40} {own / 1e3:8.1f} {cumulative / 1e3:9.1f}")
    print(f"{'slowest imports (own time)':<40} {'self ms':>8} {'cumul ms':>9}")
    for name, own, cumulative, _ in sorted(imports, key=lambda r: -r[1])[:5]:
        print(f"{name:<40} {own / 1e3:8.1f} {cumulative / 1e3:9.1f}")
    return 1 if heavy else 0


if __name__ == "__main__":
    raise SystemExit(main())
