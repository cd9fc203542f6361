"""What the operator and the sensor share: the hook, and the check of their parameters.

Light on purpose: DAG files import the operator and sensor, which import this module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_batchstream.jobspec.forms import Context
from airflow_batchstream.jobspec.parameters import Parameter, check_parameters, raise_for

if TYPE_CHECKING:
    from airflow_batchstream.hooks import BatchStreamHook


class BatchStreamHookMixin:
    """Mixin for tasks with ``gcp_conn_id`` and ``impersonation_chain``: their :class:`BatchStreamHook`.

    The hook module pulls in grpc and google.api_core, so it is imported here, inside
    ``execute``/``poke``, and never when a DAG file is parsed.
    """

    gcp_conn_id: str
    impersonation_chain: str | Sequence[str] | None

    @cached_property
    def hook(self) -> BatchStreamHook:
        from airflow_batchstream.hooks import BatchStreamHook

        return BatchStreamHook(gcp_conn_id=self.gcp_conn_id, impersonation_chain=self.impersonation_chain)


def check_parameters_of(
    subject: str,
    values: Mapping[str, Any],
    table: Mapping[str, Parameter],
    *,
    static: bool,
    context: Context | None = None,
) -> dict[str, Any]:
    """Check a task's parameters (all of them at once) and return them normalized.

    :param subject: who is asking, for the message, e.g. ``BatchStreamJobOperator 'crunch'``.
    :param static: the constructor's view: values Airflow resolves later are skipped.
    :raises ParameterInvalid: naming every wrong parameter, before anything is rendered or called.
    """
    from airflow_batchstream.exceptions import ParameterInvalid

    normalized, problems = check_parameters(values, table, static=static, context=context)
    raise_for(problems, subject, ParameterInvalid)
    return normalized
