"""container_logs: filters within 20,000 characters, dedupe, the read budget, tail and diagnosis lines."""

from __future__ import annotations

import pytest

from airflow_batchstream.container_logs import (
    MAX_FILTER_CHARS,
    JobLog,
    ReadBudget,
    ReaderCore,
    TaskLine,
    job_filters,
    rfc3339,
    tail_of,
    task_index_of,
)
from airflow_batchstream.emulator import log_filter

T0 = 1_764_525_600 * 10**9  # 2025-11-30T18:00:00Z in nanoseconds


def uid(n: int) -> str:
    # As long as the emulator's longest: a 40-character job id, then -8hex-4hex.
    return f"{'j' * 30}{n:010d}-0123abcd-ef01"


def line(job: str, n: int, *, task: int = 0, stderr: bool = False, at: int | None = None) -> TaskLine:
    return TaskLine(job, task, stderr, f"line {n}", T0 + (at if at is not None else n) * 10**9, f"id-{n}")


def test_a_filter_names_many_jobs_and_every_one_has_a_time_bound():
    since = {uid(1): T0, uid(2): T0, uid(3): T0 + 5 * 10**9}
    [(text, uids)] = job_filters("proj", since)
    assert sorted(uids) == sorted(since)
    assert text.startswith('logName="projects/proj/logs/batch_task_logs" AND (')
    assert f'(timestamp>="{rfc3339(T0)}" AND labels.job_uid=("{uid(1)}" OR "{uid(2)}"))' in text
    assert f'(timestamp>="{rfc3339(T0 + 5 * 10**9)}" AND labels.job_uid="{uid(3)}")' in text
    # The emulator reads it as Logging would, parentheses and all.
    tree = log_filter.parse(text)
    entry = {"logName": "projects/proj/logs/batch_task_logs", "labels.job_uid": uid(3)}
    assert tree.matches({**entry, "timestamp": T0 + 5 * 10**9})
    assert not tree.matches({**entry, "timestamp": T0 + 4 * 10**9})


def test_thousands_of_jobs_are_split_into_filters_within_20000_characters():
    since = {uid(n): T0 + (n % 7) * 10**9 for n in range(2000)}
    filters = job_filters("proj", since)
    assert all(len(text) <= MAX_FILTER_CHARS for text, _ in filters)
    named = [u for _, uids in filters for u in uids]
    assert sorted(named) == sorted(since)  # every job exactly once
    assert len(filters) <= 8  # ~300 jobs per filter, not one per job
    for text, uids in filters:
        named_by_filter = log_filter.required_values(log_filter.parse(text), "labels.job_uid")
        assert named_by_filter == {u.lower() for u in uids}


def test_a_small_limit_splits_sooner_and_never_cuts_a_job():
    since = {uid(n): T0 for n in range(10)}
    for limit in range(200, 700, 7):  # every split point: the length is counted exactly
        filters = job_filters("proj", since, max_chars=limit)
        assert all(len(text) <= limit for text, _ in filters), limit
        assert sorted(u for _, uids in filters for u in uids) == sorted(since)
    filters = job_filters("proj", since, max_chars=400)
    assert len(filters) > 1
    assert all(len(text) <= 400 for text, _ in filters)
    assert sorted(u for _, uids in filters for u in uids) == sorted(since)
    with pytest.raises(ValueError, match="does not fit"):
        job_filters("proj", since, max_chars=100)


def test_task_index_from_both_label_forms():
    assert task_index_of("abc-123-group0-7") == 7
    assert task_index_of("task/abc-123-group0-12/0/0") == 12
    assert task_index_of("something-else") is None


def test_tail_settings():
    assert tail_of("all") is None
    assert tail_of("off") == 0
    assert tail_of(25) == 25


def test_a_line_read_twice_is_printed_once_and_in_order():
    log = JobLog("u", T0, tail=None, interval=5)
    assert [log.accept(line("u", n)) for n in (1, 2)] == [True, True]
    assert log.accept(line("u", 1)) is False  # the overlap of the next read
    assert log.take() == ["[task 0] line 1", "[task 0] line 2"]
    assert log.take() == []
    log.accept(TaskLine("u", 3, True, "boom", T0 + 3 * 10**9, "id-3"))
    assert log.take() == ["[task 3 stderr] boom"]


def test_seen_entries_are_forgotten_once_no_read_can_return_them():
    log = JobLog("u", T0, tail=None, interval=5)
    for n in range(100):
        log.accept(line("u", n))
    log.read_complete(T0 + 200 * 10**9, started=1000.0)
    assert log._seen == {}  # older than the next read's bound: they cannot come again
    assert log.due == 1005.0


def test_tail_mode_prints_the_last_lines_once_drained():
    log = JobLog("u", T0, tail=2, interval=5)
    for n in range(5):
        log.accept(line("u", n))
    assert log.take() == []  # nothing while the job runs
    log.drain(after=10.0)
    log.read_complete(T0 + 10 * 10**9, started=11.0)
    assert log.drained
    assert log.take() == [
        "[3 earlier lines not shown: container_logs=2]",
        "[task 0] line 3",
        "[task 0] line 4",
    ]


def test_last_lines_per_task_for_the_diagnosis_are_bounded():
    log = JobLog("u", T0, tail=None, interval=5)
    for n in range(30):
        log.accept(line("u", n, task=n % 2, stderr=n % 2 == 1))
    assert log.last_lines(1) == [f"[task 1 stderr] line {n}" for n in range(11, 30, 2)]
    assert log.last_lines(5) == []


def test_the_budget_spaces_reads_and_never_exceeds_its_window():
    budget = ReadBudget(6, window=60.0)
    made: list[float] = []
    now = 0.0
    while now < 300:
        wait = budget.wait(now)
        if wait == 0:
            budget.spend(now)
            made.append(now)
        now += 0.5
    assert all(sum(1 for t in made if start <= t < start + 60) <= 6 for start in made)
    assert made[:3] == [0.0, 10.0, 20.0]  # evenly spaced, not a burst


def test_a_refusal_pauses_reads_and_longer_when_it_repeats():
    budget = ReadBudget(60, window=60.0)
    first = budget.refused(now=0.0)
    assert 8 <= first <= 12  # a sixth of the window, with jitter
    assert budget.wait(0.0) == pytest.approx(first)
    second = budget.refused(now=first)
    assert second > first
    budget.served()
    assert budget.refused(now=100.0) < second


def test_the_core_reads_due_jobs_together_and_pages_before_moving_on():
    core = ReaderCore("proj", ReadBudget(60))
    logs = [JobLog(uid(n), T0, tail=None, interval=10) for n in range(3)]
    for log in logs:
        core.add(log)
    read = core.next_read(now=0.0, wall_ns=T0 + 10**9)
    assert sorted(read.uids) == sorted(log.uid for log in logs)
    core.ingest(read, [line(uid(0), 1), line(uid(2), 2)], next_page_token="page-2")
    again = core.next_read(now=0.1, wall_ns=T0 + 2 * 10**9)
    assert again is read and again.page_token == "page-2"  # the same query, its next page
    core.ingest(again, [line(uid(1), 3)], next_page_token="")
    assert [log.take() for log in logs] == [["[task 0] line 1"], ["[task 0] line 3"], ["[task 0] line 2"]]
    assert core.next_read(now=5.0, wall_ns=T0) is None  # nobody is due before its interval
    assert core.next_read(now=10.0, wall_ns=T0) is not None


def test_a_read_before_the_drain_time_does_not_postpone_the_last_read():
    log = JobLog("u", T0, tail=None, interval=30)
    log.drain(after=105.0)
    log.read_complete(T0, started=100.0)  # began before the job's last lines were due
    assert not log.drained and log.due == 105.0
    log.read_complete(T0, started=105.5)
    assert log.drained
