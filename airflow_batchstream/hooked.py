"""What the operator, the sensor and the trigger share: the hook, its endpoint, templated seconds.

Light on purpose: DAG files import the operator and sensor, which import this module.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_batchstream.hooks import BatchStreamHook

#: ``host:port`` of a Batch emulator (DESIGN.md). When set, the hook talks plain gRPC to it with no
#: credentials. Defined here, not in ``hooks``, because the light modules read it too.
EMULATOR_ENV = "BATCHSTREAM_EMULATOR_HOST"


def emulator_host() -> str | None:
    """The emulator address from :data:`EMULATOR_ENV`, or None when unset or empty."""
    return os.environ.get(EMULATOR_ENV) or None


class UsesBatchStreamHook:
    """Mixin for tasks with ``gcp_conn_id`` and ``impersonation_chain``.

    The hook module pulls in grpc and google.api_core, so it is imported here, inside
    ``execute``/``poke``, and never when a DAG file is parsed.
    """

    gcp_conn_id: str
    impersonation_chain: str | Sequence[str] | None

    @cached_property
    def hook(self) -> BatchStreamHook:
        from airflow_batchstream.hooks import BatchStreamHook

        return BatchStreamHook(gcp_conn_id=self.gcp_conn_id, impersonation_chain=self.impersonation_chain)


def is_template(value: Any) -> bool:
    """Whether a field value is a Jinja template, rendered only when the task runs."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def seconds(value: Any, name: str, *, allow_zero: bool = False) -> float:
    """``value`` as a finite number of seconds (a rendered template arrives as a string).

    :raises ValueError: naming ``name``, when it is not a number, or not positive (``allow_zero``:
        negative).
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        kind = "a non-negative" if allow_zero else "a positive"
        raise ValueError(f"{name} must be {kind} number of seconds, not {value!r}")
    return number
