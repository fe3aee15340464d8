"""How a step generates: the backend, the model it opens, and how that model runs on this machine, as one object.

Questions, answers, evaluate's answers and new questions, and the judge each build theirs from their config section
(`GenerationSettings.for_answers(cfg)`, ...), the scorers' policy in scorers/models.py; loading.open_backend opens
it. Building one checks it once for every caller (backends/config.backend_problem): a server exactly for 'openai', a
local model and a LoRA adapter only for the local backends (a server samples the model it serves), and a positive
batch size. The answers stage builds its settings when it is planned, so a served model given model.adapter is
refused before any work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from selftrain_core.backends.config import OpenAIServerConfig, VLLMEngineConfig, backend_problem
from selftrain_core.backends.served import served_model
from selftrain_core.errors import ConfigError
from selftrain_core.models.precision import inference_dtype, policy_dtype
from selftrain_core.models.resolve import resolve_model

if TYPE_CHECKING:
    from selftrain_core.backends.served import ServedModel
    from selftrain_core.config import RunConfig
    from selftrain_core.config.executor import ExecutorConfig
    from selftrain_core.models.resolve import ResolvedModel


def stage_model(
    backend: str, server: OpenAIServerConfig | None, name: str, revision: str | None = None
) -> ResolvedModel | ServedModel:
    """The model a stage generates with: the served one for 'openai', else `name` resolved to local files."""
    if backend == "openai":
        if server is None:
            raise ConfigError("backend 'openai' needs a server section (base_url, model)")
        return served_model(server)
    return resolve_model(name, revision)


@dataclass(frozen=True, kw_only=True)
class GenerationSettings:
    section: str  # the config section they come from, named in messages: "answers", "evaluate.judge"
    backend: str  # "hf", "vllm" or "openai"
    model: str | None = None  # hf and vllm: an offline alias, a local folder or a hub id; openai: None (server.model)
    revision: str | None = None  # hub revision of `model`
    adapter: str | None = None  # a LoRA adapter folder applied on the local model
    server: OpenAIServerConfig | None = None  # openai only
    engine: VLLMEngineConfig | None = None  # vllm only: engine sizing (None: the defaults)
    dtype: str = "float32"
    device: str = "auto"
    batch_size: int = 8  # requests per generate call
    executor: ExecutorConfig | None = None  # where a stage's shards run (None: here)

    def __post_init__(self) -> None:
        problem = backend_problem(self.section, self.backend, self.server, self.model, self.adapter)
        if problem is None and self.backend != "openai" and self.model is None:
            problem = f"{self.section}: the {self.backend} backend needs a model (an alias, a folder or a hub id)"
        if problem is None and self.batch_size < 1:
            problem = f"{self.section}.batch_size is {self.batch_size}; it must be at least 1"
        if problem is not None:
            raise ConfigError(problem)

    def resolve(self) -> ResolvedModel | ServedModel:
        """The model these settings generate with: the served one for 'openai', else `model` resolved to files."""
        return stage_model(self.backend, self.server, self.model, self.revision)

    @classmethod
    def for_questions(cls, cfg: RunConfig, trained: bool = False) -> GenerationSettings:
        """The question writer (the questions stage, and evaluate's train_new questions): questions.model or the
        policy model, or the served one; `trained`: evaluate's, in the dtype of the stage that measures trained
        models (models/precision.py)."""
        q = cfg.questions
        return cls(
            section="questions",
            backend=q.backend,
            model=None if q.backend == "openai" else q.model or cfg.model.name,
            revision=q.revision if q.model else cfg.model.revision,
            server=q.server,
            engine=q.vllm,
            dtype=inference_dtype(cfg.model, q.backend, trained=trained),
            device=cfg.model.device,
            batch_size=q.batch_size,
            executor=cfg.executor,
        )

    @classmethod
    def for_answers(cls, cfg: RunConfig) -> GenerationSettings:
        """The policy sampling answers: model.name through model.adapter (rounds 2+), or the served model."""
        a = cfg.answers
        return cls(
            section="answers",
            backend=a.backend,
            model=None if a.backend == "openai" else cfg.model.name,
            revision=None if a.backend == "openai" else cfg.model.revision,
            adapter=cfg.model.adapter,
            server=a.server,
            engine=a.vllm,
            dtype=policy_dtype(cfg.model, a.backend),
            device=cfg.model.device,
            batch_size=a.batch_size,
            executor=cfg.executor,
        )

    @classmethod
    def for_evaluate(cls, cfg: RunConfig, adapter: str | None = None) -> GenerationSettings:
        """The base policy answering the evaluation sets (through `adapter`: the previous round's model); each
        trained arm replaces the adapter (or the model)."""
        e = cfg.evaluate
        return cls(
            section="evaluate",
            backend=e.backend,
            model=cfg.model.name,
            revision=cfg.model.revision,
            adapter=adapter,
            engine=e.vllm,
            dtype=inference_dtype(cfg.model, e.backend, trained=True),  # it measures trained models
            device=cfg.model.device,
            batch_size=e.batch_size,
            executor=cfg.executor,
        )

    @classmethod
    def for_judge(cls, cfg: RunConfig) -> GenerationSettings:
        """The pairwise judge: evaluate.judge.model or the policy model, or the served one; evaluate's batch size."""
        j = cfg.evaluate.judge
        return cls(
            section="evaluate.judge",
            backend=j.backend,
            model=None if j.backend == "openai" else j.model or cfg.model.name,
            revision=j.revision if j.model else cfg.model.revision,
            server=j.server,
            engine=j.vllm,
            dtype=inference_dtype(cfg.model, j.backend, trained=True),  # the judge of evaluate
            device=cfg.model.device,
            batch_size=cfg.evaluate.batch_size,
        )
