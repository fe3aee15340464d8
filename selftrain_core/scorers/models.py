"""The models a scorer may use, loaded lazily and once: the sentence embedder, the NLI classifier, the policy LLM,
a judge LLM (self-reward with score.reward_judge).

Which ones a scorer needs is its `roles(settings)`; the score stage resolves those names at plan time (so their
fingerprints enter the artifact key) and hands the resolved models here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from selftrain_core.models.resolve import ResolvedModel


@dataclass
class ScorerModels:
    resolved: dict[str, ResolvedModel]  # role ("embedder", "nli", "policy", "judge") -> resolved model
    device: str = "auto"
    dtype: str = "float32"
    embedder_batch_size: int = 64
    nli_batch_size: int = 32
    nli_max_length: int = 512
    policy_batch_size: int = 8
    policy_adapter: str | None = None  # the adapter the answers were sampled through (rounds 2+): score that policy

    def _get(self, role: str) -> ResolvedModel:
        if role not in self.resolved:
            raise KeyError(f"scorer model {role!r} was not resolved for this scorer")
        return self.resolved[role]

    @cached_property
    def embedder(self):
        from selftrain_core.models.loading import load_embedder

        return load_embedder(self._get("embedder"), self.device)

    @cached_property
    def nli(self):
        from selftrain_core.models.loading import pick_device
        from selftrain_core.scorers.nli import NLIModel

        return NLIModel.load(self._get("nli").path, pick_device(self.device), self.nli_batch_size, self.nli_max_length)

    def _generator(self, model: ResolvedModel, adapter: str | None):
        from selftrain_core.backends.loading import open_backend
        from selftrain_core.backends.settings import GenerationSettings

        settings = GenerationSettings(
            section="score",
            backend="hf",
            model=model.name,
            adapter=adapter,
            dtype=self.dtype,
            device=self.device,
            batch_size=self.policy_batch_size,
        )
        return open_backend(settings, model=model)

    @cached_property
    def policy(self):
        return self._generator(self._get("policy"), self.policy_adapter)

    @cached_property
    def judge(self):
        """Another model grading the policy's samples: no adapter (the policy's rounds do not train it)."""
        return self._generator(self._get("judge"), None)
