"""The run-level page: one markdown artifact per self-train run linking every stage's artifact (its folder in the
store and its Prefect summary, sample rows and report) for every round, with the gate's decisions."""

from __future__ import annotations

from prefect.artifacts import create_markdown_artifact

from selftrain_core.store import ArtifactRef

# Prefect artifacts each stage task publishes (see tasks/stage_task.py); the UI lists an artifact's versions under
# /artifacts/key/<key>.
PUBLISHED = {
    "evaluate": ("evaluate-summary", "evaluate-sample", "evaluation-report"),
    "curate": ("curate-summary", "curate-sample"),
}


def _links(stage: str) -> str:
    keys = PUBLISHED.get(stage, (f"{stage}-summary", f"{stage}-sample"))
    return ", ".join(f"[{key}](/artifacts/key/{key})" for key in keys)


def run_page(name: str, rounds: list[dict[str, ArtifactRef]], decisions: list[str], outcome: str) -> str:
    lines = [f"# self-train run: {name}", "", outcome, ""]
    for number, refs in enumerate(rounds, start=1):
        lines += [f"## Round {number}", "", "| stage | artifact | in Prefect |", "|---|---|---|"]
        lines += [f"| {stage} | [`{ref.key}`]({ref.uri}) | {_links(stage)} |" for stage, ref in refs.items()]
        if number <= len(decisions):
            lines += ["", f"Gate: {decisions[number - 1]}"]
        lines.append("")
    return "\n".join(lines)


def publish_run_page(name: str, rounds: list[dict[str, ArtifactRef]], decisions: list[str], outcome: str) -> None:
    create_markdown_artifact(
        run_page(name, rounds, decisions, outcome), key="self-train-run", description="every artifact of this run"
    )
