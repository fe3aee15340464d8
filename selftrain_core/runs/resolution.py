"""Preflight, the config's names: every model, prompt template and chat template a run will use resolves on this
machine before the first artifact is written. Without this, `org/typo` as the judge, a prompt that needs a field
its stage does not give, or a base model without a chat template failed stages later, after artifacts were
written. The same holds for the folders a config names (adapters, an evaluation suite). Each error names the
setting."""

from __future__ import annotations

from pathlib import Path

import jinja2

from selftrain_core.backends.settings import stage_model
from selftrain_core.config import RunConfig
from selftrain_core.errors import ConfigError, SelftrainError
from selftrain_core.export.suite import read_suite
from selftrain_core.models.resolve import ResolvedModel, resolve_model
from selftrain_core.prompts import load_prompt

# What each stage fills a prompt with (a template that asks for more fails here, not mid-stage).
PASSAGE = ("title", "passage")
PASSAGE_AND_QUESTION = ("title", "passage", "question")


def configured_prompts(cfg: RunConfig) -> list[tuple[str, str, tuple[str, ...]]]:
    """(setting, prompt id, the values its stage renders it with) for every prompt the run uses."""
    prompts = [
        ("questions.prompt", cfg.questions.prompt, PASSAGE),
        ("answers.with_document_prompt", cfg.answers.with_document_prompt, PASSAGE_AND_QUESTION),
        ("answers.without_document_prompt", cfg.answers.without_document_prompt, ("question",)),
    ]
    if "train_new" in cfg.evaluate.sets:
        prompts.append(("evaluate.question_prompt", cfg.evaluate.question_prompt, PASSAGE))
    return prompts


def check_prompt(setting: str, prompt_id: str, values: tuple[str, ...]) -> None:
    try:
        prompt = load_prompt(prompt_id)
        prompt.render(**dict.fromkeys(values, "x"))
    except SelftrainError as exc:
        raise ConfigError(f"{setting}: {exc}") from None
    except jinja2.UndefinedError as exc:
        raise ConfigError(
            f"{setting}={prompt_id!r}: the template uses a value its stage does not give ({exc.message}); "
            f"it is rendered with {', '.join(values)}"
        ) from None
    except jinja2.TemplateError as exc:
        raise ConfigError(f"{setting}={prompt_id!r}: the template does not render: {exc}") from None


def configured_models(cfg: RunConfig) -> list[tuple[str, str, str, str | None]]:
    """(setting, backend, name, revision) of every generating model: the policy (always: chunking and training
    read its tokenizer), the question writer, the judge and self-reward's judge when they are other models."""
    models = [("model.name", "hf", cfg.model.name, cfg.model.revision)]
    q, judge = cfg.questions, cfg.evaluate.judge
    if q.model or q.backend == "openai":
        models.append(("questions.model", q.backend, q.model or cfg.model.name, q.revision))
    if judge.enabled and (judge.model or judge.backend == "openai"):
        models.append(("evaluate.judge.model", judge.backend, judge.model or cfg.model.name, judge.revision))
    if cfg.score.scorer == "self-reward" and cfg.score.reward_judge:
        models.append(("score.reward_judge", "hf", cfg.score.reward_judge, None))
    return models


def check_chat_template(setting: str, model: ResolvedModel) -> None:
    from selftrain_core.models.loading import load_tokenizer

    if not getattr(load_tokenizer(model), "chat_template", None):
        raise ConfigError(
            f"{setting}={model.name}: the model has no chat template (no chat_template in tokenizer_config.json, "
            "no chat_template.jinja), and every stage sends it chat messages: use an instruct or chat model, or add "
            "a template to its folder"
        )


def check_names_resolve(cfg: RunConfig) -> None:
    """Every model, prompt and chat template of the run, resolved now (ConfigError / ModelNotFoundError naming the
    setting); loads tokenizers, never weights."""
    for setting, prompt_id, values in configured_prompts(cfg):
        check_prompt(setting, prompt_id, values)
    for setting, backend, name, revision in configured_models(cfg):
        try:
            model = stage_model(backend, server_of(cfg, setting), name, revision)
        except SelftrainError as exc:
            raise type(exc)(f"{setting}: {exc}") from None
        if isinstance(model, ResolvedModel):
            check_chat_template(setting, model)
    try:
        resolve_model(cfg.embedder.name, kind="embedder")
    except SelftrainError as exc:
        raise type(exc)(f"embedder.name: {exc}") from None
    explicit = [("answers.explicitation_prompt", cfg.answers.explicitation_prompt)] if cfg.answers.explicitation else []
    for setting, prompt_id in scorer_prompts(cfg) + explicit:
        try:
            load_prompt(prompt_id)
        except SelftrainError as exc:
            raise ConfigError(f"{setting}: {exc}") from None
    for setting, path in (("model.adapter", cfg.model.adapter), ("train.init_adapter", cfg.train.init_adapter)):
        if path is not None:
            check_adapter_folder(setting, path)
    if needs_nli(cfg):
        check_nli_model(cfg.score.nli.name, cfg.score.nli.revision)
    if cfg.evaluate.suite is not None:
        check_suite_folder(cfg.evaluate.suite)


def scorer_prompts(cfg: RunConfig) -> list[tuple[str, str]]:
    """The scorers' own prompts (rendered by the scorer with its own values, so only loaded here)."""
    return [
        ("score.reflection_prompt", cfg.score.reflection_prompt),
        ("score.support_prompt", cfg.score.support_prompt),
        ("score.reward_prompt", cfg.score.reward_prompt),
    ]


def check_adapter_folder(setting: str, path: str) -> None:
    folder = Path(path)
    if not folder.is_dir():
        raise ConfigError(f"{setting}: checkpoint folder {path!r} does not exist")
    if not (folder / "adapter_config.json").is_file():
        raise ConfigError(f"{setting}: {path!r} is not a LoRA adapter folder (no adapter_config.json)")


def check_suite_folder(path: str) -> None:
    """An exported regression suite: suite.json and suite.jsonl readable, the rows matching the recorded version."""
    try:
        read_suite(path)
    except SelftrainError as exc:
        raise ConfigError(f"evaluate.suite: {exc}") from None


def needs_nli(cfg: RunConfig) -> bool:
    """The NLI model is used by a scorer that names it as a role, by evaluate.hallucination_check=nli, and by
    explicitation verification with score.explicitation_support=nli."""
    from selftrain_core.scorers import scorer_class

    verifies = cfg.answers.explicitation and cfg.score.explicitation_support == "nli"
    return (
        "nli" in scorer_class(cfg.score.scorer).roles(cfg.score)
        or cfg.evaluate.hallucination_check == "nli"
        or verifies
    )


def check_nli_model(name: str, revision: str | None) -> None:
    """Raise ConfigError (naming score.nli.name) unless `name` is loadable here and has readable NLI labels."""
    from selftrain_core.models.resolve import hub_offline, local_config_folder
    from selftrain_core.scorers.nli import labels_of_folder

    try:
        folder = local_config_folder(name, revision, kind="nli")
        if folder is not None:
            labels_of_folder(folder, f"score.nli.name {name!r}")
    except SelftrainError as exc:
        raise ConfigError(f"score.nli.name: {exc}") from None
    if folder is None and hub_offline():
        raise ConfigError(
            f"score.nli.name: NLI model {name!r} is not in the local Hugging Face cache and HF_HUB_OFFLINE "
            f"is set, so it cannot be loaded. Download it first (huggingface-cli download {name}) or set "
            "score.nli.name to a local folder, or pick a scorer that needs no NLI model "
            "(embedding-agreement, semantic-entropy / bsdetector with consistency=embedding)."
        )
    # online and not cached: downloaded when the score stage is planned


def server_of(cfg: RunConfig, setting: str):
    """The server section of the stage a model setting belongs to (None for the policy)."""
    return {"questions.model": cfg.questions.server, "evaluate.judge.model": cfg.evaluate.judge.server}.get(setting)
