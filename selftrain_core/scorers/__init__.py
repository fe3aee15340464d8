"""Knowledge scorers: (reference, samples, optional document) -> an agreement score and per-sample scores.

Registry entries are lazy "module:attr" strings so heavy models load only when a scorer is used. Each scorer
class has `scorer_id`, `version`, `roles(settings)` (the models it needs: embedder, nli, policy),
`open(settings, models)` and `score(items)`; see base.py for the interface and the bad-input rules.
"""

from __future__ import annotations

import difflib
import importlib

from selftrain_core.errors import ConfigError

SCORERS: dict[str, str] = {
    "embedding-agreement": "selftrain_core.scorers.embedding_agreement:EmbeddingAgreement",
    "selfcheck-nli": "selftrain_core.scorers.selfcheck_nli:SelfCheckNLI",
    "selfcheck-prompt": "selftrain_core.scorers.selfcheck_prompt:SelfCheckPrompt",
    "bsdetector": "selftrain_core.scorers.bsdetector:BSDetector",
    "semantic-entropy": "selftrain_core.scorers.semantic_entropy:SemanticEntropy",
    "predictive-entropy": "selftrain_core.scorers.predictive_entropy:PredictiveEntropy",
    "self-reward": "selftrain_core.scorers.self_reward:SelfReward",
}


def scorer_class(name: str):
    if name not in SCORERS:
        close = difflib.get_close_matches(name, list(SCORERS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown scorer {name!r}.{hint} Scorers: {', '.join(SCORERS)}")
    module, attr = SCORERS[name].split(":")
    return getattr(importlib.import_module(module), attr)
