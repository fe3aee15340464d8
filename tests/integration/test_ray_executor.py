"""executor.kind=ray for real: a two-node Ray cluster on loopback (its own network namespace, token auth) runs the
score and answers stages of a small SmolLM2 run, and the evaluate stage of a tiny run (its actors fetch the trained
adapter from the store). Both nodes take shards; SIGKILL of the second node's processes mid-answers costs its shard in
flight only, and each artifact equals the local run's byte for byte (same seeds, one thread)."""

import json

import pytest

from tests.ray_cluster import run_jobs, unavailable

pytestmark = [pytest.mark.integration, pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))]


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict:
    """Both jobs on one cluster (a start is ~20 s of the two cores): the evaluate job first, on both nodes; then the
    answers job, which kills the second node."""
    tmp = tmp_path_factory.mktemp("ray")
    env = {"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    jobs = [
        ("tests.ray_evaluate_job", [str(tmp / "evaluate.json"), str(tmp / "evaluate")]),
        ("tests.ray_answers_job", [str(tmp / "answers.json"), str(tmp / "answers"), "--kill"]),
    ]
    done = run_jobs(jobs, timeout=1500, env=env)
    outputs = {"evaluate": tmp / "evaluate.json", "answers": tmp / "answers.json"}
    return {
        "stderr": done.stderr[-4000:],
        **{job: json.loads(out.read_text(encoding="utf-8")) for job, out in outputs.items() if out.exists()},
    }


def test_score_and_answers_on_two_nodes_survive_a_killed_node_and_equal_the_local_run(results):
    assert "answers" in results, results["stderr"]
    result = results["answers"]

    started = next(line for line in result["log"] if "Ray workers, on nodes" in line)
    nodes = started.rsplit("on nodes ", 1)[1].split(";")[0].split(", ")
    assert len(set(nodes)) == 2, started  # one actor on each node
    assert result["killed"], "the second node's processes were not found"
    assert any("a Ray worker died with shard" in line for line in result["log"]), result["log"]
    assert sum(result["ray_nodes"].values()) == len(result["local"]) == 6
    assert result["ray"] == result["local"]  # every shard's sha256
    assert "RAY_AUTH_TOKEN" not in json.dumps(result)

    assert len(result["score_nodes"]) == 2, result["score_log"]  # the score shards ran on both nodes
    assert sum(result["score_nodes"].values()) == len(result["score_local"]) == 3  # 6 questions, 2 per shard
    assert result["score_ray"] == result["score_local"]


def test_evaluate_on_two_nodes_fetches_the_trained_adapter_and_equals_the_local_run(results):
    assert "evaluate" in results, results["stderr"]
    result = results["evaluate"]

    assert result["keys"][0] == result["keys"][1], "the executor must not change the key"
    nodes = result["ray_nodes"]
    assert {"answers_base", "answers_trained", "questions_new"} <= set(nodes), result["log"]
    assert len({node for table in nodes.values() for node in table}) == 2, nodes  # shards on both nodes
    assert result["ray"] == result["local"]  # every table, the report, plots and cards
    assert result["arm_differs"] > 0, "the actors applied the trained adapter: its answers are not the base's"
