"""The provider's settings: the emulator's address.

Light on purpose (standard library only): DAG files import the operator, which reads it, and the
emulator's own CLI and clients read it without Airflow.
"""

from __future__ import annotations

import os

#: ``host:port`` of a Batch emulator. When set, the hook talks plain gRPC to it with no
#: credentials and no Airflow connection.
EMULATOR_ENV = "BATCHSTREAM_EMULATOR_HOST"


def emulator_host() -> str | None:
    """The emulator address from :data:`EMULATOR_ENV`, or None when unset or empty."""
    return os.environ.get(EMULATOR_ENV) or None
