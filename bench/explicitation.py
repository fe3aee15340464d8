"""How the offline default's policy writes and grounds explicitations (SKE-Learn, curate.strategy=inner-knowledge).

    OMP_NUM_THREADS=2 .venv/bin/python bench/explicitation.py [--questions 24] [--config offline-cpu]

On the preset's train questions (its ingest..answers artifacts: cached after `make run`), samples K
explicitations per question exactly as the answers stage does with answers.explicitation on (same requests,
seeds and prompt), verifies them as the score stage does (score/support.py, against each question's document)
and prints: how many samples follow the Knowledge / Answer format, the distribution of the document's support and
of answer agreement, and how many samples and questions the inner-knowledge strategy's default thresholds would
verify. It writes no artifact.
"""

from __future__ import annotations

import argparse
import statistics
import time

from selftrain_core.backends.loading import open_backend
from selftrain_core.backends.settings import GenerationSettings
from selftrain_core.config.loading import load_run_config
from selftrain_core.models.resolve import resolve_model
from selftrain_core.scorers.models import ScorerModels
from selftrain_core.stages.answers import stage as answers_stage
from selftrain_core.stages.answers.explicitation import explicit_request, split_explicitation
from selftrain_core.stages.base import RunInfo
from selftrain_core.stages.chunk import stage as chunk
from selftrain_core.stages.ingest import stage as ingest
from selftrain_core.stages.questions import stage as questions
from selftrain_core.stages.score.support import verify
from selftrain_core.store import ArtifactStore


def quantiles(values: list[float]) -> str:
    q = statistics.quantiles(values, n=4) if len(values) > 1 else values * 3
    return f"{q[0]:.2f} / {q[1]:.2f} / {q[2]:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=None, help="preset or YAML (default: the offline default)")
    parser.add_argument("--questions", type=int, default=24, help="train questions sampled")
    args = parser.parse_args()
    base = load_run_config(args.config)
    cfg = load_run_config(args.config, ["answers.explicitation=true", "curate.strategy=inner-knowledge"])
    store, quiet = ArtifactStore(cfg.artifact_root), lambda _: None
    ingested = ingest.run(base, ingest.plan(base), store, RunInfo(), quiet)
    chunks = chunk.run(base, chunk.plan(base, ingested), store, RunInfo(), quiet)
    asked = questions.run(base, questions.plan(base, chunks), store, RunInfo(), quiet)
    answered = answers_stage.run(base, answers_stage.plan(base, asked, chunks), store, RunInfo(), quiet)
    references = {a["question_id"]: a["reference"] for a in store.read_rows(answered)}
    rows = sorted(store.read_rows(asked), key=lambda q: q["question_id"])
    rows = [q for q in rows if q["split"] == "train"][: args.questions]
    passages = {c["chunk_id"]: c["text"] for c in store.read_rows(chunks)}

    backend = open_backend(GenerationSettings.for_answers(cfg))
    start = time.perf_counter()
    results = backend.generate([explicit_request(cfg, q) for q in rows])
    seconds = time.perf_counter() - start
    backend.close()
    answers = [
        {**q, "explicit": [c.text for c in result.completions], "reference": references[q["question_id"]]}
        for q, result in zip(rows, results, strict=True)
    ]
    models = ScorerModels({"embedder": resolve_model(cfg.embedder.name, kind="embedder")}, device=cfg.model.device)
    checked = verify(models, cfg.score.explicitation_support, answers, passages)

    samples = [(t, s, g) for a, v in zip(answers, checked, strict=True)
               for t, s, g in zip(a["explicit"], v["explicit_support"], v["explicit_scores"], strict=True)]  # fmt: skip
    parsed = sum(split_explicitation(t).parsed for t, _, _ in samples)
    c = cfg.curate
    verified = [s >= c.support_threshold and g >= c.accept_threshold for _, s, g in samples]
    per_question = cfg.answers.num_samples
    questions_verified = sum(any(verified[i : i + per_question]) for i in range(0, len(verified), per_question))
    print(f"model {cfg.model.name}, {len(rows)} train questions x K={per_question}, {seconds:.0f} s sampling")
    print(
        "| samples | Knowledge/Answer format | support q1 / median / q3 | answer agreement q1 / median / q3 "
        f"| verified (support >= {c.support_threshold}, agreement >= {c.accept_threshold}) | questions with one |"
    )
    print("|---|---|---|---|---|---|")
    print(
        f"| {len(samples)} | {parsed} ({parsed / len(samples):.0%}) | {quantiles([s for _, s, _ in samples])} "
        f"| {quantiles([g for _, _, g in samples])} | {sum(verified)} | {questions_verified} of {len(rows)} |"
    )


if __name__ == "__main__":
    main()
