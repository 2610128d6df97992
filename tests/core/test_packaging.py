"""The wheel's package list covers every package folder (and maps the top-level ones)."""

import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_folder_is_in_the_wheel():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    mapping = {v: k for k, v in config["package-dir"].items()}  # folder -> package
    found = set()
    inits = [p for top in ("socratic", "adapters", "prompts") for p in (ROOT / top).glob("**/__init__.py")]
    for init in inits:
        folder = init.parent.relative_to(ROOT).as_posix()
        top = folder.split("/")[0]
        if top in ("socratic", "adapters", "prompts"):
            if top in mapping:
                rest = folder[len(top):].strip("/")
                found.add(mapping[top] + ("." + rest.replace("/", ".") if rest else ""))
            else:
                found.add(folder.replace("/", "."))
    assert found <= listed, f"missing from pyproject packages: {sorted(found - listed)}"
    assert "adapters" not in listed and "prompts" not in listed
