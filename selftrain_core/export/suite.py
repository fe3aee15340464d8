"""Export a run's hard questions as a regression suite: a versioned evaluation set later models are tested on
(`evaluate.suite`).

Input: a score artifact and its ancestors (answers, questions, chunk, ingest), and optionally an evaluate artifact
made from it. A question enters the suite when it is answerable (S_L >= curate.answerable_threshold and a non-empty
grounded reference) and hard for at least one reason:
- unknown: S_K < curate.known_threshold (the method's rule for a question the model does not know);
- contradicted: some no-document sample's per-sample score is at most `contradict` (default
  curate.contradict_threshold);
- judge_lost / judge_disagreed (evaluate artifact given): on a question the judge compared that has a score row
  (held_out, known), some arm lost to base in both orders, or the two orders each picked a model, different ones.
Row columns: suite_id (a hash of document, passage, question and reference), question, reference, title, document
(the chunk the question was asked about), reasons, s_l, s_k, split, and lineage: doc_id, chunk_id, question_id,
answer_id, score_id, source, source_revision, artifacts (stage -> key). The version is a hash of the rows.
Files in OUT: suite.jsonl, suite.json (version, counts, rule, artifacts), the dataset (`datasets.load_from_disk`,
split `test`) and README.md (the card). All are written into a folder beside OUT, then renamed to OUT.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from selftrain_core.errors import ConfigError
from selftrain_core.export.hf_dataset import _in_order, _json, ancestry
from selftrain_core.hashing import stable_hash
from selftrain_core.stages.curate.config import CurateConfig
from selftrain_core.stages.evaluate.verdicts import preferred
from selftrain_core.store import ArtifactRef, ArtifactStore

FORMAT = 1
JSONL, META = "suite.jsonl", "suite.json"
LINEAGE = ("ingest", "chunk", "questions", "answers", "score")
TEXTS = ("suite_id", "question", "reference", "title", "document", "doc_id", "chunk_id")  # what evaluate reads


def suite_version(rows: list[dict[str, Any]]) -> str:
    """A hash of the rows' content (in suite_id order): the same rows give the same version, any change another."""
    return stable_hash(sorted(rows, key=lambda r: r["suite_id"]))


def judge_reasons(store: ArtifactStore, evaluate: ArtifactRef, score: ArtifactRef) -> dict[str, set[str]]:
    """question_id -> judge reasons, from the evaluate artifact's judge table (one row per set, arm and question)."""
    parents = store.manifest("evaluate", evaluate.key).get("parents", [])
    if not any(p["stage"] == "score" and p["key"] == score.key for p in parents):
        raise ConfigError(f"evaluate artifact {evaluate.key} was not made from score artifact {score.key}")
    found: dict[str, set[str]] = {}
    for v in store.read_rows(evaluate, "judge"):
        one, two = preferred(v["base_first"], "base", "trained"), preferred(v["trained_first"], "trained", "base")
        if v["outcome"] == "base":
            found.setdefault(v["question_id"], set()).add("judge_lost")
        if one is not None and two is not None and one != two:
            found.setdefault(v["question_id"], set()).add("judge_disagreed")
    return found


def reasons_of(score: dict[str, Any], curate: CurateConfig, contradict: float, judged: set[str]) -> list[str]:
    reasons = ["unknown"] if score["s_k"] < curate.known_threshold else []
    if any(s <= contradict for s in score["no_doc_scores"] or []):
        reasons.append("contradicted")
    return reasons + sorted(judged)


def suite_row(s: dict, a: dict, chunk: dict, doc: dict, reasons: list[str], keys: dict[str, str]) -> dict[str, Any]:
    """One suite row from its score, answers, chunk and ingest rows."""
    suite_id = "suite-" + stable_hash([doc["doc_id"], chunk["text"], a["question"], a["reference"]])
    return {
        "suite_id": suite_id, "question": a["question"], "reference": a["reference"], "title": doc["title"],
        "document": chunk["text"], "reasons": reasons, "s_l": s["s_l"], "s_k": s["s_k"], "split": s["split"],
        "doc_id": doc["doc_id"], "chunk_id": chunk["chunk_id"], "question_id": s["question_id"],
        "answer_id": s["answer_id"], "score_id": s["score_id"], "source": doc["source"],
        "source_revision": doc["source_revision"], "artifacts": keys,
    }  # fmt: skip


def select_rows(
    store: ArtifactStore,
    score: ArtifactRef,
    curate: CurateConfig,
    contradict: float | None = None,
    evaluate: ArtifactRef | None = None,
) -> list[dict[str, Any]]:
    """The suite's rows (sorted by suite_id): every answerable scored question with a reason, with its lineage."""
    manifests = ancestry(store, score)
    if missing := [s for s in LINEAGE if s not in manifests]:
        raise ConfigError(f"score artifact {score.key} has no {', '.join(missing)} ancestor; cannot export a suite")
    refs = {s: store.ref(s, manifests[s]["key"]) for s in LINEAGE}
    keys = {s: r.key for s, r in refs.items()} | ({"evaluate": evaluate.key} if evaluate else {})
    threshold = curate.contradict_threshold if contradict is None else contradict
    judged = judge_reasons(store, evaluate, score) if evaluate else {}
    answers = {a["answer_id"]: a for a in store.read_rows(refs["answers"])}
    chunks = {c["chunk_id"]: c for c in store.read_rows(refs["chunk"])}
    docs = {d["doc_id"]: d for d in store.read_rows(refs["ingest"])}
    rows: dict[str, dict[str, Any]] = {}
    for s in sorted(store.read_rows(score), key=lambda s: s["score_id"]):
        a = answers[s["answer_id"]]
        if s["s_l"] < curate.answerable_threshold or not a["reference"].strip():
            continue
        reasons = reasons_of(s, curate, threshold, judged.get(s["question_id"], set()))
        if not reasons:
            continue
        chunk = chunks[a["chunk_id"]]
        row = suite_row(s, a, chunk, docs[chunk["doc_id"]], reasons, keys)
        rows.setdefault(row["suite_id"], row)  # the same question, passage and reference: one test case
    return sorted(rows.values(), key=lambda r: r["suite_id"])


def suite_card(meta: dict[str, Any], manifests: dict[str, dict[str, Any]]) -> str:
    from huggingface_hub import DatasetCardData

    data = DatasetCardData(
        pretty_name=f"selftrain regression suite {meta['version']}",
        tags=["selftrain", "regression-suite", "knowledge-detection", "evaluation"],
        task_categories=["question-answering"],
        size_categories=["n<1K"] if meta["rows"] < 1000 else ["1K<n<10K"],
    )
    models = [m for stage in ("answers", "score") for m in manifests.get(stage, {}).get("models", [])]
    return "\n".join(
        [
            "---",
            data.to_yaml(),
            "---",
            f"# selftrain regression suite, version `{meta['version']}`",
            "",
            "Questions a model found hard, each with the document passage it was asked about and the grounded",
            "reference answer, exported by `selftrain export-suite`. Test a later model on them with",
            "`selftrain run evaluate.suite=<this folder>` (the `suite` set of the evaluation report).",
            'Load with `datasets.load_from_disk(<this folder>)["test"]`, or read `suite.jsonl`.',
            "",
            "## Rule",
            "",
            f"- answerable: S_L >= {meta['rule']['answerable_threshold']} and a non-empty reference",
            f"- unknown: S_K < {meta['rule']['known_threshold']}",
            f"- contradicted: a no-document sample's score <= {meta['rule']['contradict_threshold']}",
            f"- judge_lost / judge_disagreed: {meta['rule']['judge']}",
            "",
            "## Counts",
            "",
            f"- rows: {meta['rows']}; by reason: `{_json(meta['reasons'])}`",
            "",
            "## Models",
            "",
            "| role | name | fingerprint |",
            "| --- | --- | --- |",
            *[f"| {m['role']} | {m['name']} | `{m['fingerprint']}` |" for m in models],
            "",
            "## Lineage",
            "",
            "| stage | artifact key | created |",
            "| --- | --- | --- |",
            *[f"| {stage} | `{m['key']}` | {m.get('created_at', '')} |" for stage, m in _in_order(manifests)],
            "",
            "Every row keeps doc_id, chunk_id, question_id, answer_id and score_id; `selftrain lineage <score_id>`",
            "walks it to its document.",
            "",
        ]
    )


def export_suite(
    store: ArtifactStore,
    score: ArtifactRef,
    out_dir: str | Path,
    curate: CurateConfig,
    contradict: float | None = None,
    evaluate: ArtifactRef | None = None,
) -> dict[str, Any]:
    """Select the rows and write the suite into `out_dir` (a new or empty folder); returns suite.json's content."""
    import datasets

    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"suite folder {out} exists and is not empty; choose a new folder")
    rows = select_rows(store, score, curate, contradict, evaluate)
    if not rows:
        raise ConfigError(f"no question of score artifact {score.key} meets the suite's rule; nothing to export")
    manifests = ancestry(store, evaluate if evaluate else score)
    judge = f"from evaluate artifact {evaluate.key}" if evaluate else "not used (no evaluate artifact given)"
    meta = {
        "format": FORMAT,
        "version": suite_version(rows),
        "rows": len(rows),
        "reasons": dict(Counter(r for row in rows for r in row["reasons"])),
        "rule": {
            "answerable_threshold": curate.answerable_threshold,
            "known_threshold": curate.known_threshold,
            "contradict_threshold": curate.contradict_threshold if contradict is None else contradict,
            "judge": judge,
        },
        "artifacts": rows[0]["artifacts"],
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)}).save_to_disk(str(tmp))
        (tmp / JSONL).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        (tmp / META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        (tmp / "README.md").write_text(suite_card(meta, manifests), encoding="utf-8")
        try:
            os.rename(tmp, out)  # replaces an empty folder; a folder filled meanwhile is refused
        except OSError:
            raise ConfigError(f"suite folder {out} exists and is not empty; choose a new folder") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return meta


def well_formed(row: Any) -> bool:
    return isinstance(row, dict) and all(isinstance(row.get(c), str) for c in TEXTS) and bool(row["reference"].strip())


def read_suite(path: str | Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(suite.json, rows) of an exported suite; ConfigError if the folder is missing, malformed, or its rows do not
    match its recorded version."""
    folder = Path(path)
    if not folder.is_dir():
        raise ConfigError(f"suite folder {str(path)!r} does not exist (export one with `selftrain export-suite`)")
    try:
        meta = json.loads((folder / META).read_text(encoding="utf-8"))
        lines = (folder / JSONL).read_text(encoding="utf-8").splitlines()
        rows = [json.loads(line) for line in lines if line.strip()]
    except FileNotFoundError as exc:
        raise ConfigError(f"{str(path)!r} is not a suite folder: no {Path(exc.filename).name}") from None
    except ValueError as exc:
        raise ConfigError(f"suite folder {str(path)!r} is unreadable: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ConfigError(f"{str(path)!r}: {META} is not a suite description of format {FORMAT}")
    bad = [i for i, r in enumerate(rows) if not well_formed(r)]
    if not rows or bad:
        raise ConfigError(f"{str(path)!r}: {JSONL} has no rows or malformed rows (lines {[i + 1 for i in bad][:5]})")
    if suite_version(rows) != meta.get("version") or len({r["suite_id"] for r in rows}) != len(rows):
        raise ConfigError(f"{str(path)!r}: the rows do not match version {meta.get('version')} (edited after export?)")
    return meta, rows
