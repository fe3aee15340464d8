"""prefect.yaml loads: every deployment's entrypoint is a flow, its default parameters validate against the flow's
signature, GPU-pool deployments ask for a CUDA device (so a worker without one refuses them), the schedule is
a weekly cron."""

from pathlib import Path

import pytest
import yaml
from prefect.flows import load_flow_from_entrypoint

REPO = Path(__file__).resolve().parents[2]
PROJECT = yaml.safe_load((REPO / "prefect.yaml").read_text())
DEPLOYMENTS = {d["name"]: d for d in PROJECT["deployments"]}


def test_the_deployments_and_pools_the_readme_names():
    from deployments.pools import CPU_POOL, GPU_POOL

    assert set(DEPLOYMENTS) == {"self-train", "self-train-gpu", "self-train-ray", "retrain-weekly", "evaluate"}
    assert {d["work_pool"]["name"] for d in DEPLOYMENTS.values()} == {CPU_POOL, GPU_POOL}, "the pools make pools makes"
    assert [next(iter(step)) for step in PROJECT["pull"]] == ["prefect.deployments.steps.set_working_directory"]


def test_make_pools_refuses_a_gpu_pool_without_a_gpu_before_calling_the_server():
    from deployments.pools import main

    with pytest.raises(SystemExit, match="--gpus 0: the GPU pool needs at least one GPU"):
        main(["--gpus", "0"])


@pytest.mark.parametrize("name", sorted(DEPLOYMENTS))
def test_entrypoint_loads_and_default_parameters_validate(name):
    deployment = DEPLOYMENTS[name]
    flow = load_flow_from_entrypoint(str(REPO / deployment["entrypoint"]))
    parameters = dict(deployment.get("parameters") or {})
    if name == "evaluate":
        parameters["train_key"] = "0123456789abcdef"  # required: the UI form asks for it
    validated = flow.validate_parameters(parameters)
    config = validated.get("config")
    if deployment["work_pool"]["name"] == "selftrain-gpu":
        assert config is not None and config.model.device == "cuda", "a GPU deployment must refuse CPU workers"
        assert config.answers.backend == "vllm", "vLLM samples on the GPU workers (DESIGN.md, Backends)"
    if name == "self-train-ray":
        assert config.executor.kind == "ray" and config.executor.address, "the cluster is a parameter"
        assert config.artifact_root.startswith("s3://"), "every node reaches the artifacts: a bucket"
    assert deployment.get("enforce_parameter_schema") is True, "invalid values refused before a run is created"


def test_retraining_is_weekly():
    (schedule,) = DEPLOYMENTS["retrain-weekly"]["schedules"]
    assert schedule == {"cron": "0 3 * * 1", "timezone": "UTC", "active": True}


def test_the_run_form_offers_every_curate_strategy_as_a_choice_with_its_papers():
    from prefect.utilities.callables import parameter_schema

    from selftrain_core.stages.curate.strategies import STRATEGIES

    flow = load_flow_from_entrypoint(str(REPO / DEPLOYMENTS["self-train"]["entrypoint"]))
    definitions = parameter_schema(flow).model_dump()["definitions"]
    strategy = definitions["CurateConfig"]["properties"]["strategy"]
    assert set(strategy["enum"]) == set(STRATEGIES) and strategy["default"] == "knowledge-detection"
    for named in ("Yeo et al. 2024", "ReST-EM", "CORE-PO", "Yuan et al. 2024", "SKE-Learn", "sft-references"):
        assert named in strategy["description"], named
    assert "needs score.scorer=self-reward" in strategy["description"], "the form says what a strategy needs"
