"""The one model of a problem found in a job spec or an image, shared by every check."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass


class Severity(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a job or its image.

    :param path: JSON path of the field, e.g. ``taskGroups[0].taskSpec.runnables[0].container.options``
        (``""`` for the job as a whole, ``image`` for the image itself).
    :param rule: stable rule id, e.g. ``IS-3`` or ``J-ID``; documented in the README.
    :param message: what is wrong, naming the offending value.
    :param fix: what to do about it.
    :param severity: errors stop submission; warnings are reported and let it go on.
    :param parameter: the operator or command-line parameter the user wrote that rendered the
        field (``task_count``), when one did; named first in messages.
    """

    path: str
    rule: str
    message: str
    fix: str
    severity: Severity = Severity.ERROR
    parameter: str | None = None

    def __post_init__(self) -> None:
        # Messages quote what the user wrote; a lone surrogate in it (text decoded with
        # errors="surrogateescape") would make the problem itself unprintable, so it is escaped.
        for name in ("path", "message", "fix"):
            text = getattr(self, name)
            if not text.isascii():
                object.__setattr__(self, name, _sendable(text))

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def to_dict(self) -> dict[str, str]:
        """The fields as JSON; ``parameter`` only when the problem has one."""
        data = asdict(self)
        data["severity"] = self.severity.value
        if data["parameter"] is None:
            del data["parameter"]
        return data

    @property
    def where(self) -> str:
        """``parameter (path)``, or whichever of the two there is; ``(job)`` for the job as a whole."""
        if self.parameter and self.path and self.path != self.parameter:
            return f"{self.parameter} ({self.path})"
        return self.parameter or self.path or "(job)"

    def format(self) -> str:
        """``WHERE: message [rule-id]`` then the fix on its own indented line (WHERE: :attr:`where`)."""
        where = self.where
        prefix = "" if self.is_error else "warning: "
        return f"{where}: {prefix}{self.message} [{self.rule}]\n    fix: {self.fix}"


def _sendable(text: str) -> str:
    """``text`` unchanged, or with each lone surrogate written as its ``\\udXXX`` escape."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.is_error]


def warnings(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if not p.is_error]


def format_problems(problems: list[Problem]) -> str:
    return "\n".join(p.format() for p in problems)
