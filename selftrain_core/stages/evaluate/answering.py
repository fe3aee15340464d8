"""Greedy answers for evaluation: the requests (with or without the document), one model at a time (one engine's
memory at a time), each model's answers a table of the evaluate artifact (evaluate/generation.py), and every
trained arm's checkpoint fetched from the store and applied (here, or on each Ray actor's node)."""

from __future__ import annotations

from typing import Any

from selftrain_core.backends.base import ChatRequest
from selftrain_core.backends.settings import GenerationSettings
from selftrain_core.cluster.jobs import shared_root
from selftrain_core.config import RunConfig
from selftrain_core.models.resolve import resolve_model
from selftrain_core.prompts import load_prompt
from selftrain_core.stages.base import StagePlan
from selftrain_core.stages.evaluate.checkpoints import ArmCheckpoint, ArmSpec
from selftrain_core.stages.evaluate.generation import Generation
from selftrain_core.stages.shards import on_ray
from selftrain_core.store import ArtifactStore
from selftrain_core.store.download import local_folder


def request(cfg: RunConfig, it: dict[str, Any], with_document: bool = False, kind: str | None = None) -> ChatRequest:
    """The greedy request for an item; `kind` prefixes its id where one model answers several kinds."""
    if with_document:
        prompt = load_prompt(cfg.answers.with_document_prompt)
        messages = prompt.messages(title=it["title"], passage=it["document"], question=it["question"])
    else:
        messages = load_prompt(cfg.answers.without_document_prompt).messages(question=it["question"])
    return ChatRequest(
        request_id=f"{kind + '/' if kind else ''}{it['set']}/{it['question_id']}",
        messages=messages,
        temperature=0.0,
        max_tokens=cfg.evaluate.max_new_tokens,
        logprobs=False,
    )


def base_answers(cfg: RunConfig, generation: Generation, batches: dict[str, list[ChatRequest]]) -> dict[str, list]:
    """{kind: texts} for the base model's batches (one table, one model load)."""
    settings = GenerationSettings.for_evaluate(cfg)
    requests = [r for batch in batches.values() for r in batch]
    texts = iter(generation.texts("answers_base", settings, settings.resolve(), requests))
    return {kind: [next(texts) for _ in batch] for kind, batch in batches.items()}


def arm_answers(
    cfg: RunConfig, store: ArtifactStore, plan: StagePlan, generation: Generation, requests: list[ChatRequest]
) -> dict[str, list[str]]:
    """{arm: greedy answers} for every trained arm (and the previous round's model), each opened in turn."""
    settings = GenerationSettings.for_evaluate(cfg)
    base = resolve_model(cfg.model.name, cfg.model.revision)
    out: dict[str, list[str]] = {}
    train_refs = [p for p in plan.parents if p.stage == "train"]
    for arm, ref in zip(plan.settings["arms"], train_refs, strict=True):
        checkpoint = ArmCheckpoint.of(arm, shared_root(store.url), store, ref)
        table = f"answers_{arm}"
        if on_ray(settings):  # each actor fetches the checkpoint on its own node
            spec = ArmSpec(settings, checkpoint, base.fingerprint)
            out[arm] = generation.texts(table, settings, base, requests, spec=spec)
            continue
        folder = local_folder(store, ref, checkpoint.path)  # the store's own on disk, else a verified cached copy
        model = checkpoint.model(base, folder)
        out[arm] = generation.texts(table, checkpoint.settings(settings, folder), model, requests)
    if cfg.model.adapter:  # a local folder: on Ray, its files travel with the actors' spec (cluster/jobs.py)
        previous = GenerationSettings.for_evaluate(cfg, adapter=cfg.model.adapter)
        out["previous"] = generation.texts("answers_previous", previous, base, requests)
    return out
