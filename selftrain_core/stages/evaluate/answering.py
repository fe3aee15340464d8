"""Greedy answers for evaluation: the requests (with or without the document), one backend per model in turn
(one engine's memory at a time), and every trained arm's checkpoint fetched from the store and applied."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from typing import Any

from tqdm.auto import tqdm

from selftrain_core.backends.base import ChatRequest
from selftrain_core.backends.loading import open_backend
from selftrain_core.backends.settings import GenerationSettings
from selftrain_core.config import RunConfig
from selftrain_core.models.resolve import ResolvedModel, resolve_model
from selftrain_core.prompts import load_prompt
from selftrain_core.stages.base import StagePlan
from selftrain_core.stages.train.stage import trained_checkpoint
from selftrain_core.store import ArtifactStore
from selftrain_core.store.download import download_folder


def request(cfg: RunConfig, it: dict[str, Any], with_document: bool = False) -> ChatRequest:
    if with_document:
        prompt = load_prompt(cfg.answers.with_document_prompt)
        messages = prompt.messages(title=it["title"], passage=it["document"], question=it["question"])
    else:
        messages = load_prompt(cfg.answers.without_document_prompt).messages(question=it["question"])
    return ChatRequest(
        request_id=f"{it['set']}/{it['question_id']}",
        messages=messages,
        temperature=0.0,
        max_tokens=cfg.evaluate.max_new_tokens,
        logprobs=False,
    )


def answer_all(cfg: RunConfig, model: ResolvedModel, adapter: str | None, label: str, batches: list[list[ChatRequest]]):
    """Greedy texts for each batch of requests, from one opened backend (one engine's memory at a time)."""
    settings = replace(GenerationSettings.for_evaluate(cfg), adapter=adapter)
    with tqdm(total=sum(map(len, batches)), desc=f"evaluate {label}", unit="question") as bar:
        backend = open_backend(settings, model=model, progress=bar.update)
        try:
            return [[r.completions[0].text for r in backend.generate(b)] if b else [] for b in batches]
        finally:
            backend.close()


def arm_answers(cfg: RunConfig, store: ArtifactStore, plan: StagePlan, requests: list[ChatRequest]):
    """{arm: greedy answers} for every trained arm (and the previous round's model), each opened in turn."""
    base = resolve_model(cfg.model.name, cfg.model.revision)
    out: dict[str, list[str]] = {}
    train_refs = [p for p in plan.parents if p.stage == "train"]
    with tempfile.TemporaryDirectory(prefix="selftrain-eval-") as tmp:
        for arm, ref in zip(plan.settings["arms"], train_refs, strict=True):
            checkpoint = trained_checkpoint(store, ref)
            folder = str(download_folder(store, ref, checkpoint["path"], f"{tmp}/{arm}/{checkpoint['path']}"))
            if checkpoint["kind"] == "full":
                full = ResolvedModel(arm, folder, ref.key, "local")
                out[arm] = answer_all(cfg, full, None, arm, [requests])[0]
            else:
                out[arm] = answer_all(cfg, base, folder, arm, [requests])[0]
    if cfg.model.adapter:
        out["previous"] = answer_all(cfg, base, cfg.model.adapter, "previous", [requests])[0]
    return out
