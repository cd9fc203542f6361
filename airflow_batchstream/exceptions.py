"""Every error the provider raises, in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.exceptions import AirflowException
from airflow.sdk.exceptions import AirflowFailException

from airflow_batchstream.jobspec.parameters import InvalidParameters
from airflow_batchstream.jobspec.problems import errors, format_problems

if TYPE_CHECKING:
    from airflow_batchstream.jobspec.problems import Problem


class BatchStreamError(AirflowException):
    """Base of every airflow-batchstream error."""


class JobSpecInvalid(BatchStreamError):
    """The rendered job breaks one or more rules; nothing was submitted."""

    def __init__(self, problems: list[Problem], *, context: str = "job spec"):
        self.problems = list(problems)
        count = len(errors(self.problems))
        super().__init__(
            f"The {context} has {count} error(s); no Batch job was submitted.\n"
            + format_problems(self.problems)
        )


class ParameterInvalid(BatchStreamError, InvalidParameters):
    """A parameter of the operator or sensor is wrong; nothing was submitted.

    Raised by the constructor for a static value (so the DAG fails to import, naming the
    parameter) and at the start of ``execute`` for a rendered one, before any API call. Also a
    ``ValueError``. ``problems`` holds one :class:`~airflow_batchstream.jobspec.problems.Problem` per
    mistake, each naming the parameter, the Batch field it renders to, the rule and the fix.
    """


class JobFailed(BatchStreamError):
    """The Batch job ended without succeeding; the message is the diagnosis.

    :param summary: the job's compact summary (as pushed to XCom on success), for callers that
        want the task counts or links of the failed job.
    """

    def __init__(self, diagnosis: str, *, summary: dict | None = None):
        super().__init__(diagnosis)
        self.diagnosis = diagnosis
        self.summary = dict(summary or {})


class JobCancelled(JobFailed):
    """The Batch job was cancelled (CANCELLED is terminal, and it is not success)."""


class JobDeleted(JobFailed):
    """The Batch job is being deleted or no longer exists (NOT_FOUND)."""


class JobTimedOut(JobFailed):
    """The wait passed its absolute deadline; the job was cancelled when ``cancel_on_kill`` is set."""


class SensedJobFailed(JobFailed, AirflowFailException):
    """The sensor's failure: also an ``AirflowFailException`` so that ``soft_fail`` makes it a skip.

    The sensor base class (airflow.sdk.bases.sensor) turns only ``AirflowFailException``,
    ``AirflowSensorTimeout`` and ``AirflowTaskTimeout`` raised from ``poke`` into a skip when
    ``soft_fail`` is set; any other ``AirflowException`` fails the task regardless. A failed job
    cannot be fixed by poking again, so not retrying is right as well.
    """


class BatchApiError(BatchStreamError):
    """A Batch API call failed for a reason that retrying cannot fix (or its retry budget ran out)."""


class CredentialsRefused(BatchApiError):
    """Google refuses the credentials for good (revoked or deleted key, deleted or disabled service
    account, impersonation not granted); waiting or retrying the call cannot fix it."""


class TriggerEventMissing(BatchStreamError):
    """A deferred task resumed without its trigger's event, so the job's outcome is unknown."""


class JobConflict(BatchStreamError):
    """A job with the requested id exists but its labels show it belongs to another task instance."""


class ImageCheckFailed(BatchStreamError):
    """The image preflight found errors (or could not read the image) with ``image_check="error"``."""


class ConfigInvalid(BatchStreamError, ValueError):
    """An option of the ``[batchstream]`` configuration section has a value it cannot take."""
