"""e2e-only: the smallest DAG, proving the test stack schedules, runs and logs a task."""

from __future__ import annotations

import datetime

from airflow.sdk import dag, task


@dag(
    schedule=None,
    start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
    catchup=False,
    tags=["batchstream", "e2e"],
    doc_md="e2e harness smoke test: one Python task, no Batch job.",
)
def e2e_smoke():
    @task
    def hello(**context) -> str:
        print("hello from", context["run_id"])
        return "hello"

    hello()


e2e_smoke()
