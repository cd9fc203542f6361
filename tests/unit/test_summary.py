"""summary: the compact XCom of a job, its timeline and its links."""

from __future__ import annotations

import re

from airflow_batchstream.summary import logs_url, missing_summary, summarize, timeline
from tests.unit.batch_messages import NAME, event, job


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


# --- the links: the job's time range, the console's domain ----------------------------------------

#: 2024-05-17T10:00:00Z, and when that job ended.
CREATED, ENDED = 1715940000, 1715940000 + 3600


def _time_range(url: str) -> str:
    from urllib.parse import unquote

    match = re.search(r";timeRange=([^;?]+)", url)
    assert match, url
    return unquote(match.group(1))


def test_the_logs_link_of_a_finished_job_spans_its_creation_to_its_end_and_late_lines():
    done = job("SUCCEEDED", [event("Job state is set from RUNNING to SUCCEEDED for job x", ENDED)])
    done.create_time = {"seconds": CREATED}
    url = summarize(done)["logs_url"]
    assert _time_range(url) == "2024-05-17T10:00:00Z/2024-05-17T11:05:00Z"  # + LATE_LINES_SECONDS
    assert url.startswith("https://console.cloud.google.com/logs/query;query=labels.job_uid%3D%22uid-1%22;")
    assert url.endswith("?project=proj")


def test_the_logs_link_of_a_running_job_reaches_the_latest_it_can_end():
    running = job("RUNNING", [event("Job state is set from SCHEDULED to RUNNING for job x", CREATED + 60)])
    running.create_time = {"seconds": CREATED}
    # 14 days: Batch fails any job still running then, so every line of the job is inside.
    assert _time_range(summarize(running)["logs_url"]) == "2024-05-17T10:00:00Z/2024-05-31T10:00:00Z"


def test_a_job_without_a_creation_time_gets_a_link_without_a_range():
    url = logs_url(NAME, "uid-1")
    assert ";timeRange=" not in url and "job_uid%3D%22uid-1%22" in url


def test_links_follow_the_console_domain_of_the_google_provider(monkeypatch):
    # The Google provider's setting for a universe other than Google's, read when a link is built.
    monkeypatch.setenv("GOOGLE_CLOUD_HIGH_VALUE_COOKIE_DOMAIN", "cloud.example.eu")
    summary = summarize(job("RUNNING"))
    assert summary["console_url"].startswith("https://console.cloud.cloud.example.eu/batch/jobsDetail/")
    assert summary["logs_url"].startswith("https://console.cloud.cloud.example.eu/logs/query;")
    assert missing_summary(NAME)["console_url"].startswith("https://console.cloud.cloud.example.eu/")
    monkeypatch.setenv("GOOGLE_CLOUD_HIGH_VALUE_COOKIE_DOMAIN", "")
    assert summarize(job("RUNNING"))["console_url"].startswith("https://console.cloud.google.com/")
