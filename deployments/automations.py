"""The automation that marks a silent flow run Crashed: `python -m deployments.automations` (`make pools` runs it).

A flow run sends a `prefect.flow-run.heartbeat` event every PREFECT_FLOWS_HEARTBEAT_FREQUENCY seconds while it
runs (`make worker` sets it). When its machine dies (power lost, the OOM killer, `kill -9` of the worker), nothing
reports the end and the server would show the run Running for ever. This automation waits, for each flow run,
MISSED heartbeat periods after its latest heartbeat for another heartbeat or a terminal state; if neither comes, it
sets the run Crashed, so the UI shows it and Retry resumes it from the cache and the finished shards.

prefect.yaml cannot declare it: a deployment's `triggers:` there become automations whose only action is to run
that deployment (RunDeployment, prefect 3.8.8). Marking some other run Crashed takes a standalone automation, made
here through the API of PREFECT_API_URL, once: a second call finds it by name and changes it only when it differs.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import StateType
from prefect.events.actions import ChangeFlowRunState
from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
from prefect.events.schemas.events import ResourceSpecification
from prefect.settings import get_current_settings

NAME = "selftrain: crash silent runs"
MISSED = 3  # heartbeats missed in a row before a run counts as dead: one late heartbeat is not a crash
# a terminal state ends the wait as a heartbeat does: a finished run stops sending them
TERMINAL = {f"prefect.flow-run.{state}" for state in ("Completed", "Failed", "Cancelled", "Crashed")}


def crash_silent_runs(heartbeat_seconds: int) -> AutomationCore:
    """The automation for runs that send a heartbeat every `heartbeat_seconds` (what their workers set)."""
    window = MISSED * heartbeat_seconds
    return AutomationCore(
        name=NAME,
        description=f"A flow run with no heartbeat for {window} s ({MISSED} missed) is marked Crashed; Retry "
        "resumes it. Made by `make pools` (deployments/automations.py).",
        enabled=True,
        trigger=EventTrigger(
            match=ResourceSpecification({"prefect.resource.id": "prefect.flow-run.*"}),
            for_each={"prefect.resource.id"},
            after={"prefect.flow-run.heartbeat"},
            expect={"prefect.flow-run.heartbeat", *TERMINAL},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=window),
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.CRASHED,
                message=f"No heartbeat for {window} s: the run's process or machine is gone. Retry resumes it.",
            )
        ],
    )


def _declared(automation: AutomationCore) -> dict:
    """What `make pools` declares, minus what the server adds (ids, the trigger's own id)."""
    fields = {"name", "description", "enabled", "trigger", "actions", "actions_on_trigger", "actions_on_resolve"}
    return automation.model_dump(include=fields, exclude={"trigger": {"id"}})


def ensure(automation: AutomationCore) -> Literal["created", "updated", "unchanged"]:
    """Create `automation`, or bring the one of the same name to it; copies of that name beyond the first go."""
    with get_client(sync_client=True) as client:
        existing = client.read_automations_by_name(automation.name)
        if not existing:
            client.create_automation(automation)
            return "created"
        first, *copies = existing  # the newest first
        for copy in copies:
            client.delete_automation(copy.id)
        if _declared(first) == _declared(automation):
            return "updated" if copies else "unchanged"
        client.update_automation(first.id, automation)
        return "updated"


def main() -> None:
    heartbeat = get_current_settings().flows.heartbeat_frequency  # PREFECT_FLOWS_HEARTBEAT_FREQUENCY, as make sets
    if heartbeat is None:
        raise SystemExit("PREFECT_FLOWS_HEARTBEAT_FREQUENCY is unset: flow runs send no heartbeat to wait for")
    done = ensure(crash_silent_runs(heartbeat))
    print(f"automation {NAME!r} {done}: a run silent for {MISSED * heartbeat} s is marked Crashed")


if __name__ == "__main__":
    main()
