"""Pure job-spec logic: parameters in, a Batch v1 Job dict or problems out.

Nothing here imports Airflow or ``google.*``: it runs at DAG-parse time and in the CLI.
"""

from __future__ import annotations

from airflow_batchstream.spec.problems import Problem, Severity, errors, format_problems, warnings

__all__ = ["Problem", "Severity", "errors", "format_problems", "warnings"]
