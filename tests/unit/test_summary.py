"""summary: the compact XCom of a job, its timeline and its links."""

from __future__ import annotations

from airflow_batchstream.summary import summarize, timeline
from tests.unit.batch_messages import event, job


def test_timeline_from_status_events():
    done = job(
        "SUCCEEDED",
        [
            event("Job state is set from QUEUED to SCHEDULED for job x", 110),
            event("Job state is set from SCHEDULED to RUNNING for job x", 130),
            event("Job state is set from RUNNING to SUCCEEDED for job x", 190),
        ],
    )
    done.create_time = {"seconds": 100}
    assert timeline(done) == {"queued": 10.0, "scheduled": 20.0, "running": 60.0, "total": 90.0}


def test_summary_is_compact_and_has_links():
    done = job("SUCCEEDED", counts={"SUCCEEDED": 3})
    summary = summarize(done, image_digest_hint="sha256:" + "a" * 64)
    assert (
        summary["job_id"] == "job-1" and summary["project"] == "proj" and summary["location"] == "us-central1"
    )
    assert summary["task_counts"] == {"SUCCEEDED": 3}
    assert summary["console_url"] == (
        "https://console.cloud.google.com/batch/jobsDetail/regions/us-central1/jobs/job-1/details?project=proj"
    )
    assert "job_uid%3D%22uid-1%22" in summary["logs_url"]
    assert summary["image_digest"].startswith("sha256:")
    import json

    assert len(json.dumps(summary)) < 1500
