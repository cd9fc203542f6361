"""BatchStreamJobSensor: wait for a Batch job submitted elsewhere (poke, reschedule or deferrable).

Same outcome rules as the operator (``states``): SUCCEEDED returns the summary as XCom; FAILED,
CANCELLED, being deleted or NOT_FOUND fail with the diagnosis, raised as an
``AirflowFailException`` subclass so that ``soft_fail=True`` turns it into a skip.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue, conf

from airflow_batchstream import states
from airflow_batchstream.exceptions import JobFailed, SensedJobFailed, TriggerEventMissing
from airflow_batchstream.jobspec.forms import UNKNOWN
from airflow_batchstream.jobspec.parameters import SENSOR_PARAMETERS
from airflow_batchstream.links import BatchStreamJobLink, BatchStreamLogsLink, persist_links
from airflow_batchstream.mixins import BatchStreamHookMixin, check_parameters_of

if TYPE_CHECKING:
    from airflow.sdk import Context


class BatchStreamJobSensor(BatchStreamHookMixin, BaseSensorOperator):
    """Wait until a Batch job ends; succeed only if it SUCCEEDED.

    The parameters are checked against :data:`~airflow_batchstream.jobspec.parameters.SENSOR_PARAMETERS`
    (static values in the constructor, templated ones when the task runs, before any API call):
    a ``job_name`` that is not ``projects/P/locations/REGION/jobs/JOB_ID`` never reaches GetJob.

    :param job_name: full job name ``projects/P/locations/L/jobs/J``. (templated)
    :param gcp_conn_id: Airflow connection id. (templated)
    :param impersonation_chain: service account(s) to impersonate. (templated)
    :param deferrable: wait in the triggerer (reuses :class:`BatchStreamJobTrigger`).
    :param poll_interval: seconds between checks; sets ``poke_interval`` unless that is given too.
        (templated) A template is applied when the task runs: Airflow's sensor base class requires
        ``poke_interval`` itself to be a number at construction, but reads it only inside
        ``execute``, so a rendered ``poll_interval`` governs poke and reschedule modes alike.
    """

    template_fields: Sequence[str] = tuple(p.name for p in SENSOR_PARAMETERS.values() if p.templated)
    operator_extra_links = (BatchStreamJobLink(), BatchStreamLogsLink())

    def __init__(
        self,
        *,
        job_name: str,
        gcp_conn_id: str = "google_cloud_default",
        impersonation_chain: str | Sequence[str] | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float | str | None = None,
        **kwargs: Any,
    ) -> None:
        arguments = {name: value for name, value in locals().items() if name in SENSOR_PARAMETERS}
        checked = check_parameters_of(
            f"{type(self).__name__} {kwargs.get('task_id')!r}", arguments, SENSOR_PARAMETERS, static=True
        )
        # An explicit poke_interval wins over poll_interval (for poking; the trigger uses poll_interval).
        poll_sets_poke = poll_interval is not None and "poke_interval" not in kwargs
        if checked["poll_interval"] not in (None, UNKNOWN):
            kwargs.setdefault("poke_interval", checked["poll_interval"])
        super().__init__(**kwargs)
        self.job_name = job_name
        self.gcp_conn_id = gcp_conn_id
        self.impersonation_chain = impersonation_chain
        self.deferrable = deferrable
        self.poll_interval = poll_interval if poll_interval is not None else self.poke_interval
        self._poll_sets_poke = poll_sets_poke
        self._links_pushed = False

    def execute(self, context: Context) -> Any:
        self.check_rendered_parameters()
        if self._poll_sets_poke:
            self.poke_interval = self.poll_interval
        if not self.deferrable:
            return super().execute(context)
        # One check first: a job that already ended needs no triggerer round trip.
        result = self.poke(context)
        if result:
            return result.xcom_value
        from airflow_batchstream.triggers import BatchStreamJobTrigger

        self.defer(
            trigger=BatchStreamJobTrigger(
                job_name=self.job_name,
                deadline=time.time() + float(self.timeout),
                poll_interval=self.poll_interval,
                gcp_conn_id=self.gcp_conn_id,
                impersonation_chain=self.impersonation_chain,
                cancel_on_kill=False,  # the sensor did not start the job; it must not stop it
                emulator_host=self.hook.emulator_host,  # the endpoint the first poke used
                api_endpoint=self.hook.api_endpoint,
            ),
            method_name="execute_complete",
        )

    def check_rendered_parameters(self) -> None:
        """The parameters as rendered, before any API call (a bad ``job_name`` never reaches GetJob)."""
        values = {name: getattr(self, name) for name in SENSOR_PARAMETERS}
        subject = f"{type(self).__name__} {self.task_id!r}"
        for name, value in check_parameters_of(subject, values, SENSOR_PARAMETERS, static=False).items():
            setattr(self, name, value)

    def poke(self, context: Context) -> PokeReturnValue:
        job = self.hook.get_job(self.job_name, missing_ok=True)
        outcome = states.outcome_of(job)
        if job is not None and not self._links_pushed:
            from airflow_batchstream.summary import summarize

            persist_links(context, summarize(job))
            self._links_pushed = True
        if not outcome.is_terminal:
            self.log.info("Batch job %s is %s", self.job_name, states.state_name(job.status.state))
            return PokeReturnValue(is_done=False)
        payload = self.hook.end_payload(job, self.job_name)
        return PokeReturnValue(is_done=True, xcom_value=self._result(payload, context))

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        if event is None:
            raise TriggerEventMissing(
                f"The sensor resumed without an event from BatchStreamJobTrigger, so the state of Batch "
                f"job {self.job_name} is not known; see the triggerer's log, or run the task again."
            )
        return self._result(event, context)

    def _result(self, payload: dict[str, Any], context: Context) -> dict[str, Any]:
        """The summary of a success; any other end raises a ``soft_fail``-aware failure.

        The links are pushed again from the final summary: the logs link now ends where the job did.
        """
        from airflow.sdk.exceptions import AirflowSensorTimeout

        persist_links(context, payload.get("summary") or {})
        try:
            return states.result_from_payload(payload)
        except JobFailed as error:
            if payload.get("status") == states.TIMEOUT:
                raise AirflowSensorTimeout(error.diagnosis) from error
            raise SensedJobFailed(error.diagnosis, summary=error.summary) from error
