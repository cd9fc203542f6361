"""Pure tests of the emulator's state machine and scenarios (no gRPC, no clock).

They live beside the emulator's integration tests, but import only the pure modules.
"""

from __future__ import annotations

import math

import pytest

from airflow_batchstream.emulator.scenario import Fate, JobFacts, Match, Phases, Scenario
from airflow_batchstream.emulator.timeline import (
    Attempt,
    Interventions,
    JobPlan,
    Names,
    RetryRule,
    build_timeline,
    job_event_text,
    task_event_text,
)

JOB = "projects/p/locations/us-central1/jobs/j"
NAMES = Names(job=JOB, zone="us-central1-a", instance_base=100)


def plan(attempts=None, **kwargs) -> JobPlan:
    """Queued [0,1), scheduled [1,2), assigned [2,3), running [3,5) for one task by default."""
    outcome = attempts or (lambda index, attempt: Attempt(2.0, 0))
    defaults = {"task_count": 1, "parallelism": 1, "queued": 1.0, "scheduled": 1.0, "assigned": 1.0}
    defaults.update(kwargs)
    return JobPlan(attempt=outcome, **defaults)


def job_states(timeline, times):
    return [timeline.job_state_at(t) for t in times]


def test_success_walks_through_every_state_at_the_planned_times():
    timeline = build_timeline(plan(), NAMES)

    assert job_states(timeline, [0, 0.99, 1, 2.99, 3, 4.99, 5, 100]) == [
        "QUEUED", "QUEUED", "SCHEDULED", "SCHEDULED", "RUNNING", "RUNNING", "SUCCEEDED", "SUCCEEDED",
    ]  # fmt: skip
    assert [timeline.task_state_at(0, t) for t in (0, 2, 3, 5)] == [
        "PENDING",
        "ASSIGNED",
        "RUNNING",
        "SUCCEEDED",
    ]
    assert timeline.counts_at(0) == {"PENDING": 1}
    assert timeline.counts_at(5) == {"SUCCEEDED": 1}
    assert timeline.end_time == 5
    assert timeline.run_duration_at(4) == 1
    assert timeline.run_duration_at(50) == 2
    assert not timeline.is_gone_at(1e9)


def test_parallelism_limits_how_many_tasks_run_at_once():
    timeline = build_timeline(plan(task_count=5, parallelism=2), NAMES)

    assert timeline.counts_at(3) == {"RUNNING": 2, "PENDING": 3}
    # The first wave ends at 5 and the second takes the freed slots: assigned 5, running 6..8.
    assert timeline.counts_at(5) == {"SUCCEEDED": 2, "ASSIGNED": 2, "PENDING": 1}
    assert timeline.counts_at(8) == {"SUCCEEDED": 4, "ASSIGNED": 1}
    assert timeline.end_time == 11
    assert timeline.counts_at(11) == {"SUCCEEDED": 5}


def test_version_changes_only_when_something_observable_changes():
    timeline = build_timeline(plan(), NAMES)

    assert timeline.version_at(0.5) == timeline.version_at(0.9)
    assert timeline.version_at(0.9) != timeline.version_at(1.0)
    assert timeline.last_change_at(0.5) is None
    assert timeline.last_change_at(4) == 3


def test_a_failed_task_fails_the_job_and_its_event_embeds_the_task_event():
    timeline = build_timeline(plan(lambda i, a: Attempt(2.0, 3)), NAMES)

    assert timeline.job_state_at(5) == "FAILED"
    task_text = (
        "Task state is updated from RUNNING to FAILED on zones/us-central1-a/instances/100 with exit code 3."
    )
    assert timeline.task_changes[0][-1].description == task_text
    assert timeline.task_changes[0][-1].exit_code == 3
    assert timeline.job_changes[-1].description == (
        f"Job state is set from RUNNING to FAILED for job {JOB}.Job failed due to task failure. "
        f'Specifically, task with index 0 failed due to the following task event: "{task_text}"'
    )


def test_job_fails_at_the_first_final_failure_and_unfinished_tasks_end_unexecuted():
    outcomes = {0: Attempt(10.0, 0), 1: Attempt(1.0, 7), 2: Attempt(1.0, 0)}
    timeline = build_timeline(plan(lambda i, a: outcomes[i], task_count=3, parallelism=2), NAMES)

    assert timeline.end_time == 4  # task 1 fails at 3 + 1
    assert "task with index 1 failed" in timeline.job_changes[-1].description
    assert timeline.counts_at(4) == {"FAILED": 1, "UNEXECUTED": 2}
    assert timeline.task_state_at(0, 100) == "UNEXECUTED"


@pytest.mark.parametrize(
    ("code", "description"),
    [
        (50001, "due to Spot VM preemption with exit code 50001."),
        (50002, "due to Batch no longer receives VM updates with exit code 50002."),
        (50003, "due to VM is rebooted during task execution with exit code 50003."),
        (50004, "due to tasks cannot be canceled with exit code 50004."),
        (50005, "due to task runs over the maximum runtime with exit code 50005."),
        (50006, "due to VM is recreated during task execution with exit code 50006."),
        (1, "on zones/z/instances/9 with exit code 1."),
    ],
)
def test_reserved_exit_codes_use_batch_wording(code, description):
    assert task_event_text("RUNNING", "FAILED", "z", "9", code).endswith(description)


def test_job_event_text_without_failure_is_one_sentence():
    assert (
        job_event_text("QUEUED", "SCHEDULED", JOB)
        == f"Job state is set from QUEUED to SCHEDULED for job {JOB}."
    )


def test_preempted_attempt_is_retried_within_max_retry_count():
    attempts = lambda i, a: Attempt(1.0, 50001) if a == 0 else Attempt(2.0, 0)  # noqa: E731
    timeline = build_timeline(plan(attempts, retry=RetryRule(max_retry_count=1)), NAMES)

    states = [c.new for c in timeline.task_changes[0]]
    assert states == ["ASSIGNED", "RUNNING", "PENDING", "ASSIGNED", "RUNNING", "SUCCEEDED"]
    retry = timeline.task_changes[0][2]
    assert retry.exit_code == 50001 and "Spot VM preemption" in retry.description
    assert timeline.job_state_at(100) == "SUCCEEDED"
    assert timeline.end_time == 3 + 1 + 1 + 2


@pytest.mark.parametrize(
    ("rule", "code", "retried"),
    [
        (RetryRule(max_retry_count=2), 1, True),
        (RetryRule(max_retry_count=0), 1, False),
        (RetryRule(2, "RETRY_TASK", frozenset({50001})), 50001, True),
        (RetryRule(2, "RETRY_TASK", frozenset({50001})), 1, False),  # RETRY_TASK fails the others
        (RetryRule(2, "FAIL_TASK", frozenset({3})), 3, False),
        (RetryRule(2, "FAIL_TASK", frozenset({3})), 4, True),
    ],
)
def test_retry_rule_follows_max_retry_count_and_lifecycle_policy(rule, code, retried):
    assert rule.should_retry(code, 0) is retried


def test_retries_stop_at_max_retry_count():
    timeline = build_timeline(plan(lambda i, a: Attempt(1.0, 2), retry=RetryRule(max_retry_count=2)), NAMES)

    assert [c.new for c in timeline.task_changes[0]].count("RUNNING") == 3
    assert timeline.job_state_at(100) == "FAILED"


def test_max_run_duration_ends_the_attempt_with_50005():
    timeline = build_timeline(plan(lambda i, a: Attempt(60.0, 0), max_run_duration=5.0), NAMES)

    assert timeline.end_time == 3 + 5
    assert timeline.task_changes[0][-1].exit_code == 50005
    assert "task runs over the maximum runtime" in timeline.job_changes[-1].description


def test_failure_before_running_fails_the_job_from_scheduled():
    timeline = build_timeline(plan(lambda i, a: Attempt(0.0, 50002, before_running=True)), NAMES)

    assert [(c.old, c.new) for c in timeline.job_changes] == [
        ("QUEUED", "SCHEDULED"),
        ("SCHEDULED", "FAILED"),
    ]
    assert timeline.end_time == 3  # at the end of ASSIGNED
    task_event = timeline.task_changes[0][-1]
    assert (task_event.old, task_event.new, task_event.exit_code) == ("ASSIGNED", "FAILED", 50002)
    assert "due to Batch no longer receives VM updates with exit code 50002." in task_event.description
    assert timeline.job_changes[-1].description.startswith(
        f"Job state is set from SCHEDULED to FAILED for job {JOB}."
    )
    assert timeline.run_duration_at(100) == 0


def test_failure_before_running_can_be_retried():
    attempts = lambda i, a: Attempt(0.0, 50002, before_running=True) if a == 0 else Attempt(2.0, 0)  # noqa: E731
    timeline = build_timeline(plan(attempts, retry=RetryRule(max_retry_count=1)), NAMES)

    assert [c.new for c in timeline.task_changes[0]] == [
        "ASSIGNED",
        "PENDING",
        "ASSIGNED",
        "RUNNING",
        "SUCCEEDED",
    ]
    assert [(c.new, c.time) for c in timeline.job_changes] == [
        ("SCHEDULED", 1),
        ("RUNNING", 4),
        ("SUCCEEDED", 6),
    ]


def test_stay_running_never_ends_until_forced():
    forever = plan(lambda i, a: Attempt(math.inf, 0))
    timeline = build_timeline(forever, NAMES)
    assert timeline.job_state_at(1e12) == "RUNNING"
    assert timeline.end_time == math.inf

    forced = build_timeline(forever, NAMES, Interventions(forced=(10.0, 9)))
    assert forced.job_state_at(10) == "FAILED"
    assert forced.task_changes[0][-1].exit_code == 9

    finished = build_timeline(forever, NAMES, Interventions(forced=(10.0, 0)))
    assert finished.job_state_at(10) == "SUCCEEDED"


def test_stay_queued_holds_the_job_in_queued_with_no_task_started():
    held = build_timeline(plan(queued=math.inf), NAMES)
    assert held.job_state_at(1e12) == "QUEUED"
    assert held.job_changes == []
    assert held.task_changes_until(0, 1e12) == []
    assert held.end_time == math.inf

    cancelled = build_timeline(plan(queued=math.inf, cancelling=2.0), NAMES, Interventions(cancel_at=100.0))
    assert job_states(cancelled, [99, 100, 102]) == ["QUEUED", "CANCELLATION_IN_PROGRESS", "CANCELLED"]
    assert cancelled.task_state_at(0, 102) == "UNEXECUTED"


def test_cancel_freezes_tasks_then_ends_cancelled():
    timeline = build_timeline(plan(cancelling=2.0), NAMES, Interventions(cancel_at=4.0))

    assert job_states(timeline, [3.5, 4, 5.9, 6]) == [
        "RUNNING", "CANCELLATION_IN_PROGRESS", "CANCELLATION_IN_PROGRESS", "CANCELLED",
    ]  # fmt: skip
    assert timeline.job_changes[-2].description == (
        f"Job state is set from RUNNING to CANCELLATION_IN_PROGRESS for job {JOB}."
    )
    assert timeline.task_state_at(0, 5) == "RUNNING"  # the task's natural success at 5 never comes
    assert timeline.task_state_at(0, 6) == "UNEXECUTED"
    assert timeline.end_time == 6


def test_cancel_after_the_job_ended_changes_nothing():
    natural = build_timeline(plan(), NAMES)
    late = build_timeline(plan(), NAMES, Interventions(cancel_at=10.0))

    assert late.job_changes == natural.job_changes


def test_delete_freezes_the_job_then_it_is_gone():
    timeline = build_timeline(plan(deleting=2.0), NAMES, Interventions(delete_at=1.5))

    assert timeline.job_state_at(1.5) == "DELETION_IN_PROGRESS"
    assert timeline.job_changes[-1].old == "SCHEDULED"
    assert not timeline.is_gone_at(3.4)
    assert timeline.is_gone_at(3.5)


def test_delete_during_cancellation_wins():
    timeline = build_timeline(plan(), NAMES, Interventions(cancel_at=3.5, delete_at=4.0))

    assert [c.new for c in timeline.job_changes][-2:] == ["CANCELLATION_IN_PROGRESS", "DELETION_IN_PROGRESS"]


# -- scenarios -------------------------------------------------------------------------------

FACTS = JobFacts(
    images=("eu.gcr.io/x/flaky:2",), labels={"team": "a", "fate": "fail"}, commands=("run --fast",)
)


@pytest.mark.parametrize(
    ("match", "fits"),
    [
        (Match(), True),
        (Match(image="*/flaky:*"), True),
        (Match(image="*/steady:*"), False),
        (Match(label="fate=fail"), True),
        (Match(label="fate=ok"), False),
        (Match(label="team"), True),
        (Match(label="owner"), False),
        (Match(command="--fast"), True),
        (Match(command="--slow"), False),
        (Match(image="*flaky*", label="team=b"), False),
    ],
)
def test_match_criteria(match, fits):
    assert match.matches(FACTS) is fits


def test_first_matching_rule_wins_and_unmatched_jobs_succeed():
    scenario = Scenario.from_obj(
        {
            "phases": {"running": 4},
            "rules": [
                {"name": "fail", "match": {"label": "fate=fail"}, "exit_codes": {"0": 3, "*": [1, 0]}},
                {"match": {}, "stay_running": True},
            ],
        }
    )

    fate = scenario.fate_for(FACTS)
    assert fate.rule == "fail"
    assert fate.attempt(0, 0) == Attempt(4.0, 3)
    assert [fate.attempt(1, n).exit_code for n in range(3)] == [1, 0, 0]
    assert scenario.fate_for(JobFacts()).stay_running
    assert Scenario().fate_for(FACTS) == Fate()
    assert Fate().attempt(0, 0) == Attempt(5.0, 0)


def test_preempt_first_attempt_then_apply_exit_codes():
    fate = Scenario.from_obj([{"preempt_first_attempt": True, "exit_code": 2}]).fate_for(FACTS)

    assert fate.attempt(0, 0) == Attempt(2.5, 50001)
    assert fate.attempt(0, 1) == Attempt(5.0, 2)


def test_fail_before_running_takes_the_first_attempt():
    fate = Scenario.from_obj([{"fail_before_running": 50002, "exit_codes": {"*": [3, 0]}}]).fate_for(FACTS)

    assert fate.attempt(0, 0) == Attempt(0.0, 50002, before_running=True)
    assert fate.attempt(0, 1) == Attempt(5.0, 3)
    assert fate.attempt(0, 2) == Attempt(5.0, 0)


def test_rule_phases_override_defaults():
    fate = Scenario.from_obj({"phases": {"queued": 7}, "rules": [{"phases": {"running": 1}}]}).fate_for(FACTS)

    assert fate.phases == Phases(queued=7, running=1)


@pytest.mark.parametrize(
    "bad",
    [
        {"rules": [{"mtach": {}}]},
        {"rules": [{"match": {"imagee": "x"}}]},
        {"rules": [{"phases": {"runing": 1}}]},
        {"rules": [{"phases": {"running": -1}}]},
        {"rules": [{"exit_codes": {"zero": 1}}]},
        {"rules": [{"exit_codes": {"0": []}}]},
        {"rule": []},
        {"rules": ["not a mapping"]},
        {"rules": [{"fail_before_running": 0}]},
    ],
)
def test_bad_scenarios_are_rejected_when_loaded(bad):
    with pytest.raises(ValueError):
        Scenario.from_obj(bad)


def test_scenario_files_yaml_and_json(tmp_path):
    yaml_file = tmp_path / "s.yaml"
    yaml_file.write_text("rules:\n  - match: {image: '*flaky*'}\n    preempt_first_attempt: true\n")
    json_file = tmp_path / "s.json"
    json_file.write_text('[{"match": {"command": "fast"}, "exit_code": 4}]')

    assert Scenario.coerce(yaml_file).fate_for(FACTS).preempt_first_attempt
    assert Scenario.coerce(str(json_file)).fate_for(FACTS).attempt(0, 0).exit_code == 4


def test_bundled_example_scenario_loads():
    from pathlib import Path

    import airflow_batchstream.emulator as package

    example = Path(package.__file__).parent / "scenarios" / "example.yaml"
    scenario = Scenario.from_file(example)
    assert scenario.rules
