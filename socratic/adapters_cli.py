"""Entry point of ``socratic train CONFIG.yaml [--set key.path=value ...]``.

Exit codes: 0 success, 1 runtime failure (one clear line), 2 bad config (one line per problem,
naming the file and the key). Heavy libraries are imported only after the config is valid.

Example:
    >>> train_main("does-not-exist.yaml", [])
    does-not-exist.yaml: error: config file not found
    2
"""

from __future__ import annotations

import sys
import traceback

__all__ = ["train_main"]


def train_main(config_path: str, overrides: list[str], *, debug: bool = False) -> int:
    """Validate the run config, train, print the final metrics as one JSON line."""
    import json

    from socratic.adapters.config import ConfigError, RunConfig
    from socratic.adapters.contrastive.config import is_contrastive_config

    if is_contrastive_config(config_path):  # type: contrastive -> LiT / CLIP tuning
        from socratic.adapters.contrastive.train import contrastive_main

        return contrastive_main(config_path, overrides, debug=debug)
    try:
        cfg = RunConfig.from_yaml(config_path, overrides)
    except ConfigError as e:
        print(str(e), file=sys.stdout)
        return 2
    try:
        from socratic.adapters.runs import run

        result = run(cfg)
    except KeyboardInterrupt:
        print(f"{config_path}: interrupted (a checkpoint was saved; rerun to resume)")
        return 1
    except Exception as e:  # every failure: one line, no traceback unless --debug
        if debug:
            traceback.print_exc()
        code = getattr(e, "exit_code", 1)
        print(f"{config_path}: error: {type(e).__name__}: {e}")
        return 2 if code == 2 else 1
    print(json.dumps({k: v for k, v in result.items() if isinstance(v, (int, float, str))}))
    return 0
