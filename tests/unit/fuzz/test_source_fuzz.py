"""Fuzz: random source rows (empty, huge, control characters, lone surrogates, bytes that are not UTF-8, lines that are
not objects, duplicate ids, missing or wrongly typed columns) never give a traceback or a partial artifact. Ingest
either writes a valid artifact whose rows and drops account for every input row, or stops with a SourceError or
ConfigError naming the file, and leaves no folder."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from selftrain_core.config.loading import build_run_config
from selftrain_core.errors import SelftrainError
from selftrain_core.stages.base import RunInfo
from selftrain_core.stages.ingest import stage as ingest
from selftrain_core.store import ArtifactStore

TEXT = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8", categories=["Cc", "Zs", "Lu", "Ll"]), max_size=40),
    st.just(""),
    st.just("x" * 100_000),
    st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=3),
)
VALUE = st.one_of(TEXT, st.integers(), st.none(), st.lists(st.integers(), max_size=2), st.booleans())
ROW = st.fixed_dictionaries(
    {},
    optional={"id": st.one_of(st.sampled_from(["a", "b", "c"]), VALUE), "title": VALUE, "text": VALUE,
              "category": st.one_of(st.sampled_from(["x", "y"]), VALUE), "description": VALUE},
)  # fmt: skip
LINE = st.one_of(
    ROW.map(lambda r: json.dumps(r).encode()),
    st.just(b"[1, 2]"),
    st.just(b"{not json"),
    st.just(b"\xff\xfe not utf-8"),
    st.just(b""),
)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(lines=st.lists(LINE, max_size=12))
def test_any_jsonl_ingests_or_fails_naming_the_file_and_leaves_nothing(lines, tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    corpus = folder / "docs.jsonl"
    corpus.write_bytes(b"\n".join(lines))
    source = {"kind": "local", "path": str(corpus), "gold_answer_field": "description"}
    cfg = build_run_config(
        {"artifact_root": str(folder / "artifacts"), "ingest": {"source": source, "test_fraction": 0}}
    )
    store = ArtifactStore(cfg.artifact_root)
    plan = ingest.plan(cfg)
    try:
        ref = ingest.run(cfg, plan, store, RunInfo(), log=lambda _: None)
    except SelftrainError as exc:
        assert corpus.name in str(exc) or "corpus is empty" in str(exc), f"the error names the file: {exc}"
        stage = Path(cfg.artifact_root) / "ingest"
        assert not stage.exists() or not any(stage.iterdir()), "no partial artifact"
        return
    manifest = store.manifest("ingest", ref.key)
    rows = store.read_table(ref).num_rows
    objects = [line for line in lines if line.strip()]
    assert rows + sum(manifest["drops"].values()) == len(objects), "every input row is a document or a counted drop"
    assert store.verify("ingest", ref.key) == []
