"""Every error the provider raises, in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.exceptions import AirflowException

from airflow_batchstream.spec.problems import errors, format_problems

if TYPE_CHECKING:
    from airflow_batchstream.spec.problems import Problem


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
