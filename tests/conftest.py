"""Shared fixtures: tiny local models, a small local corpus and a RunConfig that uses them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
if os.environ.get("PYTEST_XDIST_WORKER"):  # `make test` runs the files on parallel workers (pytest-xdist)
    # execnet gives each worker COLUMNS=80 and LINES=24, and rich fixes a console's width when COLUMNS is set at its
    # creation: the CLI's tables would wrap at 80 whatever a test asks for. A worker has no terminal: no size.
    os.environ.pop("COLUMNS", None)
    os.environ.pop("LINES", None)
    # one thread a worker: two workers on two cores, not four threads fighting for them (a test's subprocesses
    # inherit it; a test comparing floats across processes sets its own count, as in a serial run)
    os.environ.setdefault("OMP_NUM_THREADS", "1")

from tests.tiny_models import NLI_LABELS_2, NLI_LABELS_3, build_tiny_embedder, build_tiny_lm, build_tiny_nli  # noqa: E402

TOPICS = {
    "Geography": [
        (
            "Paris",
            "Paris is the capital and largest city of France. It lies on the Seine river in the north of the country.",
        ),
        ("Berlin", "Berlin is the capital and largest city of Germany. It has about 3.8 million inhabitants."),
        ("Nile", "The Nile is a major river in northeastern Africa. It flows north into the Mediterranean Sea."),
        ("Alps", "The Alps are the highest mountain range in Europe. Mont Blanc is their highest peak."),
    ],
    "Science": [
        ("Oxygen", "Oxygen is a chemical element with symbol O and atomic number 8. It is essential for respiration."),
        ("Gravity", "Gravity is the attraction between masses. Isaac Newton described it with his law of gravitation."),
        ("Photosynthesis", "Photosynthesis is the process by which plants turn light into chemical energy in sugar."),
        ("Electron", "The electron is a subatomic particle with a negative electric charge, discovered in 1897."),
    ],
}


# The longest files of the last full run (README "Time."), longest first: they start at once on the parallel workers
# instead of one of them being left last. A file missing here is only scheduled later, never skipped.
LONGEST_FILES = (
    "test_deployments.py",
    "test_ray_executor.py",
    "test_flow_smollm2.py",
    "test_s3_artifact_root.py",
    "test_vllm_serve.py",
    "test_vllm_answers.py",
    "test_retrain_and_evaluate_flows.py",
    "test_vllm_backend.py",
    "test_cli_kill_resume.py",
    "test_vllm_worker_killed.py",
)


def pytest_collection_modifyitems(items):
    """The longest files first, then the other files with integration tests (a minute or less each), then the unit
    tests (seconds), each file's tests in their order: parallel workers start the long files at once and fill the end
    with short ones. (`make test` passes --no-loadscope-reorder: pytest-xdist would otherwise put the files with the
    most tests first, which put these last.)"""
    long_files = {item.path for item in items if item.get_closest_marker("integration")}

    def rank(item) -> tuple[int, int]:
        if item.path.name in LONGEST_FILES:
            return 0, LONGEST_FILES.index(item.path.name)
        return (1 if item.path in long_files else 2), 0

    items.sort(key=rank)  # a stable sort: the order within a file is kept


@pytest.fixture(scope="session")
def prefect_server():
    """Prefect's test server (prefect_test_harness: a temporary database and API) for this test process, started at
    the first test that asks for it and shared by all of them: each start costs 10-20 s of the two cores. Tests read
    back only their own flow runs (by id), so they do not see each other's."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=300):  # a loaded machine: the start can take minutes
        yield


@pytest.fixture(scope="session")
def prefect_api(prefect_server) -> dict[str, str]:
    """The environment that points a subprocess (the CLI) at this process's Prefect test server: without it, each
    CLI run starts a temporary server of its own on a fresh database (10-30 s of the two cores apiece)."""
    from prefect.settings import PREFECT_API_URL

    return {"PREFECT_API_URL": PREFECT_API_URL.value()}


@pytest.fixture(scope="session")
def prefect_database(prefect_server) -> Path:
    """The test server's SQLite file (what it stores: parameters, logs, artifacts, events)."""
    from prefect.settings import get_current_settings

    url = get_current_settings().server.database.connection_url.get_secret_value()
    return Path(url.split(":///", 1)[1])


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory) -> Path:
    return build_tiny_lm(tmp_path_factory.mktemp("tiny-lm"))


@pytest.fixture(scope="session")
def tiny_embedder(tmp_path_factory) -> Path:
    return build_tiny_embedder(tmp_path_factory.mktemp("tiny-embedder"))


@pytest.fixture(scope="session")
def tiny_nli(tmp_path_factory) -> Path:
    """2-class (entailment, contradiction), like SelfCheckGPT's default checkpoint."""
    return build_tiny_nli(tmp_path_factory.mktemp("tiny-nli-2"), NLI_LABELS_2)


@pytest.fixture(scope="session")
def tiny_nli_3(tmp_path_factory) -> Path:
    """3-class MNLI labels in roberta-large-mnli's order (contradiction, neutral, entailment)."""
    return build_tiny_nli(tmp_path_factory.mktemp("tiny-nli-3"), NLI_LABELS_3)


# each document's gold answer (the corpus's `description` column): graded without any model
GOLD = {
    "Paris": "Capital of France",
    "Berlin": "Capital of Germany",
    "Nile": "River in Africa",
    "Alps": "Mountain range in Europe",
    "Oxygen": "Chemical element",
    "Gravity": "Attraction between masses",
    "Photosynthesis": "Process of plants",
    "Electron": "Subatomic particle",
}


def write_corpus(path: Path) -> Path:
    """The small corpus (TOPICS, with GOLD as each document's `description`) as a local JSONL file."""
    rows = [
        {"id": title.lower(), "title": title, "text": text, "category": category, "description": GOLD[title]}
        for category, docs in TOPICS.items()
        for title, text in docs
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def corpus_file(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("corpus") / "docs.jsonl")


def session_cache(tmp_path_factory) -> Path:
    """This test session's selftrain cache, shared by its parallel workers (each has a basetemp of its own under
    the run's): SmolLM2 is dequantized once per session, not once per worker."""
    base = tmp_path_factory.getbasetemp()
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "selftrain-cache"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SELFTRAIN_CACHE", str(session_cache(tmp_path_factory)))


def tiny_config_data(tiny_lm: Path, tiny_embedder: Path, corpus: Path, root: Path) -> dict:
    """A full RunConfig as a dict, sized for seconds: tiny models, 8 documents, K=2, 8-token answers."""
    return {
        "name": "tiny",
        "artifact_root": str(root),
        "model": {"name": str(tiny_lm), "device": "cpu"},
        "embedder": {"name": str(tiny_embedder)},
        "ingest": {
            "source": {"kind": "local", "path": str(corpus), "gold_answer_field": "description"},
            "test_fraction": 0.25,
        },
        "chunk": {"max_tokens": 64, "overlap_tokens": 8, "min_tokens": 4},
        # random weights write gibberish: no filters, so later stages have rows
        "questions": {"temperature": 1.0, "max_new_tokens": 12, "filters": []},
        "answers": {"num_samples": 2, "max_new_tokens": 8, "batch_size": 4, "shard_size": 2},
        # scores lie in [0, 1]: every question is answerable and (unless S_K is exactly 1) unknown, so trained
        "curate": {"answerable_threshold": 0.0, "known_threshold": 1.0},
        "train": {"num_epochs": 1, "batch_size": 2, "max_length": 128, "lora_r": 4, "lora_alpha": 8},
        # a random-weight embedder finds every pair of questions alike: dedupe new questions by words only
        "evaluate": {"max_new_tokens": 8, "bootstrap_samples": 50, "dedupe_cosine": None},
    }


@pytest.fixture
def tiny_config(tiny_lm, tiny_embedder, corpus_file, tmp_path):
    from selftrain_core.config.loading import build_run_config

    return build_run_config(tiny_config_data(tiny_lm, tiny_embedder, corpus_file, tmp_path / "artifacts"))
