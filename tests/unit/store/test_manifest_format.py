"""One unreadable manifest must not break the tools that look through all artifacts; a manifest from a newer
selftrain is refused with a message saying so; manifests from before `format_version` still read."""

from __future__ import annotations

import json
import logging

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from selftrain_cli.app import app
from selftrain_core.errors import CorruptArtifactError
from selftrain_core.stages.base import RunInfo, execute, make_plan
from selftrain_core.store import ArtifactStore, ArtifactWriter
from selftrain_core.store.artifact_store import MANIFEST_FORMAT, ManifestFormatError


def _artifact(store: ArtifactStore, key: str, stage: str = "ingest") -> None:
    writer = ArtifactWriter(store, stage, key)
    writer.write_table("data", pa.table({"x": [1, 2]}))
    writer.commit({})


def _rewrite_manifest(tmp_path, key: str, edit) -> None:
    path = tmp_path / "ingest" / key / "manifest.json"
    path.write_text(edit(path.read_text()))


def _newer(text: str) -> str:
    return json.dumps({**json.loads(text), "format_version": 99})


def test_new_manifests_record_the_format_and_old_ones_without_it_still_read(tmp_path):
    store = ArtifactStore(str(tmp_path))
    _artifact(store, "new")
    assert store.manifest("ingest", "new")["format_version"] == MANIFEST_FORMAT
    _artifact(store, "old")
    _rewrite_manifest(
        tmp_path, "old", lambda t: json.dumps({k: v for k, v in json.loads(t).items() if k != "format_version"})
    )
    assert "format_version" not in store.manifest("ingest", "old")
    assert store.is_complete("ingest", "old") and store.verify("ingest", "old") == []
    assert {m["key"] for m in store.list()} == {"new", "old"}


def test_artifacts_list_skips_a_truncated_manifest_and_names_its_folder(tmp_path, caplog):
    store = ArtifactStore(str(tmp_path))
    for key in ("good1", "bad", "good2"):
        _artifact(store, key)
    _rewrite_manifest(tmp_path, "bad", lambda t: t[: len(t) // 2])
    with caplog.at_level(logging.WARNING):
        out = CliRunner().invoke(app, ["artifacts", "list", "--root", str(tmp_path)])
    assert out.exit_code == 0, out.output
    assert "good1" in out.output and "good2" in out.output and "bad" not in out.output
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and f"{tmp_path}/ingest/bad" in warnings[0] and "unreadable" in warnings[0]


def test_reading_a_truncated_manifest_names_its_folder_and_a_run_recomputes_it(tmp_path):
    store = ArtifactStore(str(tmp_path))
    plan = make_plan("ingest", 1, {"a": 1})
    execute(plan, store, RunInfo(), lambda w: w.write_table("data", pa.table({"x": [1]})), lambda _: None)
    _rewrite_manifest(tmp_path, plan.key, lambda t: t[:10])
    with pytest.raises(CorruptArtifactError, match=f"{tmp_path}/ingest/{plan.key}"):
        store.manifest("ingest", plan.key)
    assert not store.is_complete("ingest", plan.key)
    ref = execute(plan, store, RunInfo(), lambda w: w.write_table("data", pa.table({"x": [1]})), lambda _: None)
    assert store.verify("ingest", ref.key) == []


def test_a_manifest_from_a_newer_selftrain_is_refused_and_skipped_in_listings(tmp_path, caplog):
    store = ArtifactStore(str(tmp_path))
    _artifact(store, "good")
    _artifact(store, "future")
    _rewrite_manifest(tmp_path, "future", _newer)
    with pytest.raises(ManifestFormatError, match=r"written by a newer selftrain \(manifest format 99"):
        store.manifest("ingest", "future")
    with pytest.raises(ManifestFormatError):
        store.is_complete("ingest", "future")  # a run stops rather than overwrite a newer selftrain's artifact
    out = CliRunner().invoke(app, ["artifacts", "show", "ingest", "future", "--root", str(tmp_path)])
    assert isinstance(out.exception, ManifestFormatError) and f"{tmp_path}/ingest/future" in str(out.exception)
    with caplog.at_level(logging.WARNING):
        assert [m["key"] for m in store.list("ingest")] == ["good"]
    assert any("newer selftrain" in r.getMessage() and "ingest/future" in r.getMessage() for r in caplog.records)
