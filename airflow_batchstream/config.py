"""The provider's settings: the ``[batchstream]`` section of Airflow's configuration, and the
emulator's address.

Each option is declared once, here. ``get_provider_info()`` publishes them, so ``airflow config
list`` shows the section with its defaults and descriptions, and :meth:`Option.read` reads one
through Airflow's ``conf`` (``airflow.cfg``, or ``AIRFLOW__BATCHSTREAM__<KEY>`` in the environment)
where it is used: when a task or trigger runs, and for the operator's ``poll_interval`` default
when a DAG file imports it (as Airflow's own ``[operators] default_deferrable``), not once for the
life of a process. Only the emulator's address is an environment variable, as with Google's own
emulators (``PUBSUB_EMULATOR_HOST``, ``DATASTORE_EMULATOR_HOST``): clients and the emulator CLI
share it without an Airflow configuration.

Light on purpose: DAG files import the operator, which reads options; Airflow's ``conf`` is
imported by :meth:`Option.read` only.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

SECTION = "batchstream"

#: ``host:port`` of a Batch emulator. When set, the hook talks plain gRPC to it with no
#: credentials and no Airflow connection.
EMULATOR_ENV = "BATCHSTREAM_EMULATOR_HOST"


def emulator_host() -> str | None:
    """The emulator address from :data:`EMULATOR_ENV`, or None when unset or empty."""
    return os.environ.get(EMULATOR_ENV) or None


@dataclass(frozen=True)
class Option:
    """One option of the ``[batchstream]`` section.

    :param key: the option's name in the section.
    :param default: its value when unset; a float option holds a finite number above 0.
    :param description: what it governs, as ``airflow config list`` shows it.
    :param example: a value to show besides the default, if it helps.
    """

    key: str
    default: float | str
    description: str
    example: str | None = None

    @property
    def name(self) -> str:
        """``[batchstream] key``, as messages name it."""
        return f"[{SECTION}] {self.key}"

    def read(self) -> Any:
        """The configured value (the default when unset).

        :raises ConfigInvalid: for a float option that is not a finite number above 0.
        """
        from airflow.sdk import conf

        value = conf.get(SECTION, self.key, fallback=None)
        if value is None or value == "":
            return self.default
        if isinstance(self.default, str):
            return value
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not (math.isfinite(number) and number > 0):
            from airflow_batchstream.exceptions import ConfigInvalid

            raise ConfigInvalid(
                f"{self.name} is {value!r}, but it must be a number above 0 (default {self.default}); "
                f"fix it in airflow.cfg or AIRFLOW__{SECTION.upper()}__{self.key.upper()}, or remove it."
            )
        return number

    def declaration(self) -> dict[str, Any]:
        """The option as ``get_provider_info()["config"]`` declares it."""
        return {
            "description": self.description,
            "version_added": None,
            "type": "float" if isinstance(self.default, float) else "string",
            "example": self.example,
            "default": str(self.default),
        }


DEFAULT_POLL_INTERVAL = Option(
    "default_poll_interval",
    30.0,
    "Seconds between two checks of a Batch job after it changed: the default of the operator's "
    "poll_interval (and of a trigger built without one). The delay grows up to 4x while the job "
    "does not change.",
)
TRIGGER_READS_PER_SECOND = Option(
    "trigger_reads_per_second",
    100.0,
    "Batch reads (GetJob, ListTasks) per second that one triggerer process allows itself per "
    "region, shared by all the tasks it waits for. Batch allows 15,000 reads per minute per region "
    "for a whole project (250/s); the default leaves room for workers and other triggerers.",
)
API_RETRY_BUDGET = Option(
    "api_retry_budget",
    300.0,
    "Seconds a Batch API call keeps retrying transient errors (UNAVAILABLE, DEADLINE_EXCEEDED, "
    "RESOURCE_EXHAUSTED, INTERNAL) before it gives up with the last one. A wait never ends on a "
    "transient error: it keeps asking until its own deadline.",
)
PREFLIGHT_RETRY_BUDGET = Option(
    "preflight_retry_budget",
    30.0,
    "Seconds one registry request of the image preflight keeps retrying throttling (429), server "
    "errors (5xx), dropped connections and timeouts, honouring Retry-After, before the preflight "
    "fails.",
)
EMULATOR_PROJECT = Option(
    "emulator_project",
    "batchstream-emulator",
    f"Project of the jobs a task without project_id submits to the emulator ({EMULATOR_ENV} set). "
    "Against Google Cloud the project comes from the Airflow connection instead.",
    example="my-project",
)

OPTIONS: tuple[Option, ...] = (
    DEFAULT_POLL_INTERVAL,
    TRIGGER_READS_PER_SECOND,
    API_RETRY_BUDGET,
    PREFLIGHT_RETRY_BUDGET,
    EMULATOR_PROJECT,
)


def provider_config() -> dict[str, Any]:
    """The ``config`` entry of ``get_provider_info()``: the section and its options."""
    return {
        SECTION: {
            "description": "Google Cloud Batch with Image Streaming (airflow-batchstream).",
            "options": {option.key: option.declaration() for option in OPTIONS},
        }
    }
