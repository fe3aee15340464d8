"""Incremental runs (stages/reuse.py): a corpus that grew recomputes only its new documents' rows."""

import json

import pytest

from selftrain_core.config.loading import build_run_config
from selftrain_core.stages.questions import stage as questions_stage
from selftrain_core.store import ArtifactStore
from selftrain_core.store.lineage import walk
from tests.conftest import tiny_config_data
from tests.pipeline import run_pipeline

CATEGORIES = ("Places", "Science", "People")
WORDS = [
    "river",
    "mountain",
    "element",
    "particle",
    "city",
    "empire",
    "treaty",
    "planet",
    "language",
    "harbour",
    "bridge",
    "valley",
]


def document(i: int, edition: int = 1) -> dict:
    words = " ".join(WORDS[(i + j) % len(WORDS)] for j in range(12))
    text = f"Topic {i} is a {words}. It was described in edition {edition} with {i * 7} facts about {WORDS[i % 12]}."
    return {"id": f"t{i}", "title": f"Topic {i}", "text": text, "category": CATEGORIES[i % 3], "description": "x"}


def write(path, docs) -> None:
    path.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")


def manifest_reuse(store: ArtifactStore, refs, stage: str) -> dict:
    return store.manifest(stage, refs[stage].key)["reuse"]


@pytest.fixture(scope="module")
def grown(tiny_lm, tiny_embedder, tmp_path_factory):
    """Run 1 on 60 documents; run 2 after 5 were added (in the same artifact root)."""
    base = tmp_path_factory.mktemp("incremental")
    source = base / "docs.jsonl"
    data = tiny_config_data(tiny_lm, tiny_embedder, source, base / "artifacts")
    data["questions"]["shard_size"] = 8
    write(source, [document(i) for i in range(60)])
    first, _ = run_pipeline(build_run_config(data), stop_after="score")
    write(source, [document(i) for i in range(65)])
    cfg = build_run_config(data)
    second, lines = run_pipeline(cfg, stop_after="score")
    return cfg, data, source, first, second, lines


def test_adding_five_documents_to_sixty_computes_only_their_rows(grown):
    cfg, _, _, first, second, _ = grown
    store = ArtifactStore(cfg.artifact_root)
    assert first["ingest"].key != second["ingest"].key  # new keys all the way down: the corpus changed
    chunks = store.read_rows(second["chunk"])
    old_chunks = {c["chunk_id"] for c in store.read_rows(first["chunk"])}
    new_chunks = [c for c in chunks if c["chunk_id"] not in old_chunks]
    new_docs = {c["doc_id"] for c in new_chunks}
    titles = {c["title"] for c in new_chunks}
    assert titles == {f"Topic {i}" for i in range(60, 65)}  # an old document's chunks keep their ids

    questions = {q["question_id"]: q for q in store.read_rows(second["questions"])}
    new_questions = {q for q, row in questions.items() if row["doc_id"] in new_docs}
    answers = store.read_rows(second["answers"])
    assert manifest_reuse(store, second, "questions") == {
        "reused_rows": len(chunks) - len(new_chunks),
        "computed_rows": len(new_chunks),
        "reused_from": [first["questions"].key],
    }
    for stage in ("answers", "score"):
        assert manifest_reuse(store, second, stage) == {
            "reused_rows": len(answers) - len(new_questions),
            "computed_rows": len(new_questions),
            "reused_from": [first[stage].key],
        }, stage

    # reused rows are the earlier run's rows (the split is this corpus's); lineage still reaches every document
    before = {a["question_id"]: a for a in store.read_rows(first["answers"])}
    for row in answers:
        if row["question_id"] in before:
            assert {**before[row["question_id"]], "split": row["split"]} == row
    scores = store.read_rows(second["score"])
    for row in (scores[0], next(s for s in scores if s["question_id"] in new_questions)):  # one reused, one new
        steps = walk(store, row["score_id"])
        assert [s.key for s in steps] == [second[s.stage].key for s in steps]
        assert steps[-1].row_id == questions[row["question_id"]]["doc_id"]


def test_an_incremental_run_holds_the_rows_a_run_from_scratch_holds(grown, tmp_path):
    cfg, data, _, _, second, _ = grown
    scratch_root = tmp_path / "scratch"
    scratch, _ = run_pipeline(build_run_config({**data, "artifact_root": str(scratch_root)}), stop_after="score")
    store, fresh = ArtifactStore(cfg.artifact_root), ArtifactStore(str(scratch_root))
    assert {s: r.key for s, r in scratch.items()} == {s: r.key for s, r in second.items()}
    for stage, id_field in (("chunk", "chunk_id"), ("questions", "question_id"), ("answers", "answer_id")):
        columns = [id_field, "split"]  # the same rows in the same order; the texts are samples, compared above
        assert store.read_table(second[stage]).select(columns) == fresh.read_table(scratch[stage]).select(columns)
    assert fresh.manifest("answers", scratch["answers"].key)["reuse"]["reused_rows"] == 0


def test_a_changed_document_is_recomputed_and_a_removed_one_drops_out(grown):
    cfg, _, source, _, second, _ = grown
    docs = [document(i) for i in range(65) if i != 3]
    docs[10] = document(11, edition=2)  # Topic 11's text changed
    write(source, docs)
    third, _ = run_pipeline(cfg, stop_after="answers")
    store = ArtifactStore(cfg.artifact_root)
    chunks = store.read_rows(third["chunk"])
    assert {c["title"] for c in chunks} == {f"Topic {i}" for i in range(65) if i != 3}
    recomputed = {c["title"] for c in chunks} - {
        c["title"] for c in store.read_rows(second["chunk"]) if c["chunk_id"] in {x["chunk_id"] for x in chunks}
    }
    assert recomputed == {"Topic 11"}
    questions = store.read_rows(third["questions"])
    changed = [q for q in questions if q["title"] == "Topic 11"]
    reuse = manifest_reuse(store, third, "answers")
    assert reuse["computed_rows"] == len(changed) and reuse["reused_rows"] == len(questions) - len(changed)


def test_reuse_off_computes_everything(grown):
    cfg, data, source, first, _, _ = grown
    write(source, [document(i) for i in range(65)])
    off = build_run_config({**data, "reuse": False})
    store = ArtifactStore(off.artifact_root)
    keys, _ = run_pipeline(off, stop_after="chunk")
    planned = {"questions": questions_stage.plan(off, keys["chunk"]).key}
    store.delete("questions", planned["questions"])  # run 2's; run 1's stays, with rows to reuse
    refs, _ = run_pipeline(off, stop_after="questions")
    assert store.is_complete("questions", first["questions"].key)
    reuse = manifest_reuse(store, refs, "questions")
    assert reuse["reused_rows"] == 0 and reuse["computed_rows"] == len(store.read_rows(refs["chunk"]))
