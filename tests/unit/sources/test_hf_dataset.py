import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from selftrain_core.errors import SourceError
from selftrain_core.stages.ingest.config import HFDatasetSource
from selftrain_core.stages.ingest.sources import hf_dataset


def test_reads_a_local_dataset_folder_with_datasets(tmp_path):
    rows = [{"id": str(i), "title": f"T{i}", "text": f"text {i}", "topic": "x"} for i in range(5)]
    (tmp_path / "data").mkdir()
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "data" / "train-00000.parquet")
    cfg = HFDatasetSource(path=str(tmp_path), revision="v1", category_field="topic", max_documents=3)
    docs = hf_dataset.read(cfg)
    assert [d["title"] for d in docs] == ["T0", "T1", "T2"]
    assert docs[0]["source_revision"].startswith("sha256:") and docs[0]["category"] == "x"
    before = hf_dataset.fingerprint(cfg)
    rows[0]["text"] = "changed"
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "data" / "train-00000.parquet")
    assert hf_dataset.fingerprint(cfg) != before, "a local dataset's key follows its content"


def test_missing_column_and_missing_dataset_are_named(tmp_path):
    (tmp_path / "data").mkdir()
    pq.write_table(pa.Table.from_pylist([{"body": "x"}]), tmp_path / "data" / "train-00000.parquet")
    with pytest.raises(SourceError, match="no column 'text'"):
        hf_dataset.read(HFDatasetSource(path=str(tmp_path)))
    with pytest.raises(SourceError, match="cannot open dataset 'no-such-org/no-such-dataset'"):
        hf_dataset.read(HFDatasetSource(path="no-such-org/no-such-dataset"))
