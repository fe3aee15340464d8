"""Knowledge scorers: (reference, samples, optional document) -> an agreement score and per-sample scores.

Registry entries are lazy "module:attr" strings so heavy models load only when a scorer is used.
"""

from __future__ import annotations

import difflib
import importlib

from selftrain_core.errors import ConfigError

SCORERS: dict[str, str] = {
    "embedding-agreement": "selftrain_core.scorers.embedding_agreement:EmbeddingAgreement",
}


def scorer_class(name: str):
    if name not in SCORERS:
        close = difflib.get_close_matches(name, list(SCORERS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown scorer {name!r}.{hint} Scorers: {', '.join(SCORERS)}")
    module, attr = SCORERS[name].split(":")
    return getattr(importlib.import_module(module), attr)
