"""Operator extra links: the Batch job in the Cloud console, and its logs in Cloud Logging.

The operator persists both URLs to XCom as soon as the job exists, before it waits or defers, so
the buttons work while the task is still running (or deferred), and again when the job has ended:
the logs link's time range then ends with the job (see :func:`airflow_batchstream.summary.logs_url`).
Both take the console's domain the way the Google provider's links do
(:func:`airflow_batchstream.summary.console_domain`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey


class _XComLink(BaseOperatorLink):
    """A link whose URL was pushed to XCom under :attr:`key` by the task itself."""

    key: ClassVar[str]

    @property
    def xcom_key(self) -> str:
        return self.key

    @classmethod
    def persist(cls, context: Any, url: str) -> None:
        if url:
            context["ti"].xcom_push(key=cls.key, value=url)

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        from airflow.sdk.execution_time.xcom import XCom

        value = XCom.get_value(key=self.key, ti_key=ti_key)
        return value if isinstance(value, str) else ""


class BatchStreamJobLink(_XComLink):
    """``https://console.cloud.{domain}/batch/jobsDetail/regions/{location}/jobs/{job_id}/details``."""

    name = "Batch Job"
    key = "batchstream_job_link"


class BatchStreamLogsLink(_XComLink):
    """Logs Explorer, filtered on the job's ``labels.job_uid``, over the job's time range."""

    name = "Batch Job Logs"
    key = "batchstream_logs_link"


def persist_links(context: Any, summary: dict[str, Any]) -> None:
    """Push both links of a job summary (see :func:`airflow_batchstream.summary.summarize`)."""
    BatchStreamJobLink.persist(context, summary.get("console_url", ""))
    BatchStreamLogsLink.persist(context, summary.get("logs_url", ""))
