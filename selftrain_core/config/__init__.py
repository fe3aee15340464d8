"""Run configuration. `RunConfig` (run.py) composes the stage configs, which live in their stage folders
(`selftrain_core/stages/<stage>/config.py`); base.py holds what every config module shares; loading.py reads presets,
YAML files and dotted overrides.

`from selftrain_core.config import RunConfig, load_run_config` works; they are imported on first use, so a stage
config module can import `selftrain_core.config.base` without importing every other stage.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "RunConfig": "selftrain_core.config.run",
    "STAGES": "selftrain_core.stages",
    "load_run_config": "selftrain_core.config.loading",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'selftrain_core.config' has no attribute {name!r}")
