"""Forms: how one parameter value is checked, and the documented forms of Google Cloud names.

A form takes a value and returns it normalized, or raises :class:`Invalid` with what is wrong (in
the user's terms: ``expected a list of strings, got the string 'echo hi'``), the fix (``did you
mean ['echo', 'hi']?``) and a rule id. The table of parameters that uses them is
:mod:`airflow_batchstream.jobspec.parameters`. The ``*_reason`` functions hold a string to a
documented form (project ids, job names, e-mails, Compute Engine names and URLs) and say why it
is not one, or return None.

Pure: imports neither Airflow nor ``google.*``.
"""

from __future__ import annotations

import math
import re
import reprlib
from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any, NamedTuple

from airflow_batchstream.jobspec.images import PROJECT_ID_RE, REGION_RE, ZONE_RE, parse_image
from airflow_batchstream.jobspec.images import region_of_allowed_location as allowed_location_region
from airflow_batchstream.jobspec.limits import DURATION_RE, JOB_ID_RE, SECRET_RE, STREAMING_FIELDS
from airflow_batchstream.jobspec.policy import ValidationPolicy

#: Domain-scoped (legacy) project ids: ``example.com:my-project``.
DOMAIN_PROJECT_RE = re.compile(
    r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+:[a-z][a-z0-9-]{4,28}[a-z0-9]$"
)
PROJECT_NUMBER_RE = re.compile(r"^[1-9][0-9]{0,19}$")
#: Compute Engine resource names (machine types, networks, subnetworks) are RFC 1035 labels.
RFC1035_RE = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
EMAIL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
COMPUTE_URL_PREFIX = "https://www.googleapis.com/compute/v1/"
NETWORK_RE = re.compile(r"^(projects/(?P<project>[^/]+)/)?global/networks/(?P<name>[^/]+)$")
SUBNETWORK_RE = re.compile(
    r"^(projects/(?P<project>[^/]+)/)?regions/(?P<region>[^/]+)/subnetworks/(?P<name>[^/]+)$"
)
JOB_NAME_RE = re.compile(r"^projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/jobs/(?P<job>[^/]+)$")
MAX_EXIT_CODE = 2**31 - 1
INT_TEXT_RE = re.compile(r"^\s*[+-]?[0-9]+\s*$")
SECONDS_TEXT_RE = re.compile(r"^[0-9]+(\.[0-9]{1,9})?$")

_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother, _REPR.maxlist, _REPR.maxdict = 3, 60, 60, 6, 4


class _Unknown:
    """A value only Airflow knows, when the task runs: a template, an XComArg, a DAG param."""

    def __repr__(self) -> str:
        return "<resolved when the task runs>"


UNKNOWN: Any = _Unknown()


class Invalid(Exception):
    """Raised by a form: what is wrong with the value, the fix, and the rule id."""

    def __init__(self, message: str, fix: str, rule: str = "P-TYPE", path: str | None = None):
        super().__init__(message)
        self.message, self.fix, self.rule, self.path = message, fix, rule, path


class Context(NamedTuple):
    """What a form may need besides the value.

    :param text: every value came as text (the command line): numbers may be written as text.
    :param policy: the validation policy; with one, a streaming image URI is held to the Artifact
        Registry form (rule IS-1), without one (rendering only) it need only be a string.
    :param streaming: whether the job streams its image (``image_streaming``).
    :param provider_labels: label keys the provider sets itself; the user may not set them.
    """

    text: bool = False
    policy: ValidationPolicy | None = None
    streaming: bool = True
    provider_labels: Collection[str] = ()


#: A form checks one value and returns it normalized (e.g. ``"30"`` -> ``30.0`` where text is
#: allowed), or raises :class:`Invalid`. ``numbers_as_text`` is true for templated parameters
#: (a rendered template is text) and on the command line.
Form = Callable[[Any, Context, bool], Any]


# --------------------------------------------------------------------------------------------
# Describing values and building messages


def describe(value: Any) -> str:
    """``the string 'many'``, ``the boolean True``: what the user gave, bounded in length."""
    kinds = {str: "string", bool: "boolean", int: "integer", float: "number", list: "list", tuple: "tuple"}
    if value is None:
        return "None"
    kind = kinds.get(type(value)) or ("mapping" if isinstance(value, Mapping) else type(value).__name__)
    return f"the {kind} {_REPR.repr(value)}"


def _type_error(expected: str, value: Any, fix: str) -> Invalid:
    return Invalid(f"expected {expected}, got {describe(value)}", fix)


# --------------------------------------------------------------------------------------------
# Forms of scalar values


def integer(low: int, high: int | None = None, rule: str = "P-RANGE") -> Form:
    """An int in ``low..high`` (no upper bound when ``high`` is None); bool is not an int."""
    span = f"{low}..{high}" if high is not None else f"at least {low}"

    def check(value: Any, context: Context, numbers_as_text: bool) -> int:
        if isinstance(value, str) and numbers_as_text and INT_TEXT_RE.match(value):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            fix = f"write an integer in {span}"
            if isinstance(value, float) and value.is_integer():
                fix = f"write {int(value)}"
            elif isinstance(value, str) and INT_TEXT_RE.match(value):
                fix = f"write {int(value)} without quotes"
            raise _type_error(f"an integer ({span})", value, fix)
        if value < low or (high is not None and value > high):
            raise Invalid(f"{value} is outside {span}", f"use a value in {span}", rule)
        return value

    return check


def seconds(*, allow_zero: bool = False) -> Form:
    """A finite number of seconds, above zero (or at least zero)."""
    span = "at least 0" if allow_zero else "above 0"

    def check(value: Any, context: Context, numbers_as_text: bool) -> float:
        number = math.nan
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = _as_float(value)
        elif isinstance(value, str) and numbers_as_text:
            try:
                number = float(value)
            except ValueError:
                number = math.nan
        if math.isnan(number):
            raise _type_error(f"a number of seconds ({span})", value, "write a number, e.g. 30 or 0.5")
        if math.isinf(number) or number < 0 or (number == 0 and not allow_zero):
            raise Invalid(
                f"{_REPR.repr(value)} is not a number of seconds {span}", "write e.g. 30 or 0.5", "P-RANGE"
            )
        return number

    return check


def _as_float(value: int | float) -> float:
    try:
        return float(value)
    except OverflowError:  # an int beyond float's range
        return math.inf if value > 0 else -math.inf


def duration(value: Any, context: Context, numbers_as_text: bool) -> int | float | str:
    """Seconds as a number, or a protobuf Duration string such as ``"3600s"``."""
    if isinstance(value, str) and numbers_as_text and SECONDS_TEXT_RE.match(value):
        value = float(value) if "." in value else int(value)
    if isinstance(value, str):
        if not DURATION_RE.match(value):
            raise Invalid(
                f"{describe(value)} is not a duration like '3600s'",
                "write seconds as a number (3600) or a string with an s suffix ('3600s')",
                "J-DURATION",
            )
        if value.startswith("-"):  # a Duration may be negative; a time limit may not
            raise Invalid(
                f"{describe(value)} is not a duration above 0 seconds", "write e.g. '3600s'", "P-RANGE"
            )
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _type_error("seconds (3600) or a duration string ('3600s')", value, "write e.g. 3600")
    if not math.isfinite(_as_float(value)) or value <= 0:
        raise Invalid(f"{_REPR.repr(value)} is not a duration above 0 seconds", "write e.g. 3600", "P-RANGE")
    return value


def boolean(value: Any, context: Context, numbers_as_text: bool) -> bool:
    """True or False; a string is refused, since ``"false"`` would read as true."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        raise Invalid(
            f"expected True or False, got {describe(value)}; a string is not a boolean (even 'false' "
            "would read as true)",
            "write True or False without quotes",
        )
    raise _type_error("True or False", value, "write True or False")


def choice(*values: str) -> Form:
    """One of ``values`` (case-sensitive, as Batch's enums are)."""

    def check(value: Any, context: Context, numbers_as_text: bool) -> str:
        if isinstance(value, str) and value in values:
            return value
        close = [v for v in values if isinstance(value, str) and v.lower() == value.strip().lower()]
        fix = f"write {close[0]!r}" if close else f"use one of {', '.join(map(repr, values))}"
        raise Invalid(f"{describe(value)} is not one of {', '.join(values)}", fix, "P-CHOICE")

    return check


def line_count(*words: str) -> Form:
    """One of ``words``, or a number of lines (an int, at least 1)."""
    numbers = integer(1)

    def check(value: Any, context: Context, numbers_as_text: bool) -> str | int:
        if isinstance(value, str) and value in words:
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return numbers(value, context, numbers_as_text)
        if isinstance(value, str) and numbers_as_text and INT_TEXT_RE.match(value):
            return numbers(value, context, numbers_as_text)
        raise Invalid(
            f"{describe(value)} is neither {' nor '.join(map(repr, words))} nor a number of lines",
            f"use {', '.join(map(repr, words))} or a number of lines such as 100",
            "P-CHOICE",
        )

    return check


def text(reason: Callable[[str], str | None], fix: str, rule: str = "P-FORM") -> Form:
    """A non-empty string; ``reason(value)`` says why its form is wrong, or None."""

    def check(value: Any, context: Context, numbers_as_text: bool) -> str:
        if not isinstance(value, str):
            raise _type_error("a string", value, fix)
        why = "it is empty" if not value.strip() else reason(value)
        if why:
            raise Invalid(f"{value!r} is not valid: {why}", fix, rule)
        return value

    return check


def any_text(value: str) -> str | None:
    return "it has surrounding whitespace" if value != value.strip() else None


# --------------------------------------------------------------------------------------------
# Documented forms (each returns why a string is wrong, or None)


def project_reason(value: str) -> str | None:
    """A project id (6-30 of ``a-z0-9-``, letter first), a domain-scoped id, or a project number."""
    if PROJECT_ID_RE.match(value) or DOMAIN_PROJECT_RE.match(value) or PROJECT_NUMBER_RE.match(value):
        return None
    if not 6 <= len(value) <= 30:
        return f"a project id has 6 to 30 characters, this has {len(value)}"
    return (
        "a project id is lowercase letters, digits and '-', starting with a letter and not "
        "ending with '-' (e.g. my-project-123)"
    )


def region_reason(value: str) -> str | None:
    if REGION_RE.match(value):
        return None
    zone = ZONE_RE.match(value)
    if zone:
        return f"it is a zone; jobs live in regions (did you mean {zone.group('region')!r}?)"
    return "a Batch location is a region such as us-central1"


def job_id_reason(value: str) -> str | None:
    if JOB_ID_RE.match(value):
        return None
    if len(value) > 63:
        return f"a job id is at most 63 characters, this has {len(value)}"
    return "a job id is lowercase letters, digits and '-', starting with a letter and not ending with '-'"


def job_name_reason(value: str) -> str | None:
    match = JOB_NAME_RE.match(value)
    if not match:
        return "a job name is projects/PROJECT/locations/REGION/jobs/JOB_ID"
    parts = (
        ("project", project_reason(match["project"])),
        ("location", region_reason(match["location"])),
        ("job id", job_id_reason(match["job"])),
    )
    return next((f"its {part}: {why}" for part, why in parts if why), None)


def email_reason(value: str) -> str | None:
    if EMAIL_RE.match(value):
        return None
    return "a service account is an e-mail address, e.g. NAME@PROJECT.iam.gserviceaccount.com"


def machine_type_reason(value: str) -> str | None:
    if RFC1035_RE.match(value):
        return None
    return "a machine type is a Compute Engine name: lowercase letters, digits and '-', e.g. e2-standard-4"


def _resource_reason(value: str, pattern: re.Pattern[str], kind: str, form: str) -> str | None:
    match = pattern.match(value.removeprefix(COMPUTE_URL_PREFIX))
    if not match:
        if RFC1035_RE.match(value):
            return f"a {kind} is given as a URL; for the {kind} {value!r} write {form.format(name=value)}"
        short = form.format(name="NAME")
        return f"a {kind} is {short}, projects/PROJECT/{short} or its full URL"
    parts = {"project": project_reason, "region": region_reason}
    for part, check in parts.items():
        why = match.groupdict().get(part) and check(match[part])
        if why:
            return f"its {part}: {why}"
    if not RFC1035_RE.match(match["name"]):
        return f"{kind} name {match['name']!r} is not an RFC 1035 name (lowercase letters, digits, '-')"
    return None


def network_reason(value: str) -> str | None:
    return _resource_reason(value, NETWORK_RE, "network", "global/networks/{name}")


def subnetwork_reason(value: str) -> str | None:
    return _resource_reason(value, SUBNETWORK_RE, "subnetwork", "regions/REGION/subnetworks/{name}")


def allowed_location_reason(value: str) -> str | None:
    if allowed_location_region(value):
        return None
    if REGION_RE.match(value) or ZONE_RE.match(value):
        kind = "regions" if REGION_RE.match(value) else "zones"
        return f"write {kind}/{value}"
    return "an allowed location is regions/REGION or zones/ZONE"


def vm_reason(name: str) -> Callable[[str], str | None]:
    """The form ``name`` of :mod:`~airflow_batchstream.jobspec.vm_forms` (accelerator types, boot
    disks, reservations, instance templates), loaded when a DAG first gives such a value: the
    forms cost parse time only to DAGs that use them."""

    def reason(value: str) -> str | None:
        from airflow_batchstream.jobspec import vm_forms

        return getattr(vm_forms, name)(value)

    reason.__name__ = name
    return reason


def logs_path_reason(value: str) -> str | None:
    if value.startswith("/") or value.startswith("gs://"):
        return None
    return "a logs path is an absolute path on the VM (e.g. a mounted bucket /mnt/data/logs)"


def url_reason(value: str) -> str | None:
    if re.match(r"^https?://[^/\s:]+(:[0-9]+)?(/\S*)?$", value):
        return None
    return "a registry URL is https://HOST[:PORT] (http:// only on loopback)"


def secret_reason(value: str) -> str | None:
    if SECRET_RE.match(value):
        return None
    return "a secret is a Secret Manager version, projects/PROJECT/secrets/SECRET/versions/VERSION"


# --------------------------------------------------------------------------------------------
# Forms of collections


def string_list(
    item: Callable[[str], str | None] | None = None, *, split: bool = False, rule: str = "P-FORM"
) -> Form:
    """A list (or tuple) of strings. A lone string is refused with the list it probably meant.

    :param item: why one item's form is wrong, or None.
    :param split: suggest splitting the string as a shell would (commands), not wrapping it.
    :param rule: the rule id of an item's form.
    """

    def check(value: Any, context: Context, numbers_as_text: bool) -> list[Any]:
        if isinstance(value, str):
            meant = _shell_words(value) if split else [value]
            raise Invalid(
                f"expected a list of strings, got {describe(value)} (a string is not a list: it "
                "would be read one character at a time)",
                f"did you mean {meant!r}?",
            )
        if not isinstance(value, (list, tuple)):
            raise _type_error("a list of strings", value, 'write e.g. ["a", "b"]')
        for index, entry in enumerate(value):
            _string_entry(entry, f"item [{index}]", item, rule, repr(str(entry)))
        return list(value)

    return check


def _string_entry(
    entry: Any, where: str, reason: Callable[[str], str | None] | None, rule: str, written: str
) -> None:
    """One string in a list or mapping; ``where`` names it (``item [1]``, ``the value of 'A'``)."""
    if entry is UNKNOWN:
        return
    if not isinstance(entry, str):
        raise Invalid(
            f"{where} is {describe(entry)}; it must be a string", f"write it as a string: {written}"
        )
    why = reason(entry) if reason else None
    if why:
        raise Invalid(f"{where}, {entry!r}, is not valid: {why}", why, rule)


def _shell_words(value: str) -> list[str]:
    try:
        import shlex  # only when there is a mistake to explain

        return shlex.split(value)
    except ValueError:
        return value.split()


def exit_codes(value: Any, context: Context, numbers_as_text: bool) -> list[int]:
    """A list of exit codes (integers from 0)."""
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        meant = [int(n) for n in re.findall(r"[0-9]+", str(value))] or [1]
        raise Invalid(f"expected a list of exit codes, got {describe(value)}", f"did you mean {meant!r}?")
    if not isinstance(value, (list, tuple)):
        raise _type_error("a list of exit codes", value, "write e.g. [1, 75]")
    codes = []
    code = integer(0, MAX_EXIT_CODE)
    for index, entry in enumerate(value):
        try:
            codes.append(code(entry, context, numbers_as_text))
        except Invalid as bad:
            raise Invalid(f"item [{index}]: {bad.message}", bad.fix, bad.rule) from None
    return codes


def string_map(
    value_reason: Callable[[str], str | None] | None = None,
    *,
    example: str = '{"KEY": "value"}',
    rule: str = "P-FORM",
) -> Form:
    """A mapping of string keys to string values. A list of ``"K=V"`` strings is refused with the
    mapping it probably meant.

    :param value_reason: why one value's form is wrong, or None.
    :param rule: the rule id of a value's form.
    """

    def check(value: Any, context: Context, numbers_as_text: bool) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            fix = f"write a mapping, e.g. {example}"
            if isinstance(value, (list, tuple)) and all(isinstance(v, str) and "=" in v for v in value):
                meant = dict(entry.split("=", 1) for entry in value)
                fix = f"did you mean {meant!r}?"
            raise _type_error("a mapping", value, fix)
        for key, entry in value.items():
            if not isinstance(key, str) or not key:
                raise Invalid(f"key {key!r} is not a non-empty string", "write every key as a string")
            _string_entry(entry, f"the value of {key!r}", value_reason, rule, f"{{{key!r}: {str(entry)!r}}}")
        return dict(value)

    return check


def labels(value: Any, context: Context, numbers_as_text: bool) -> dict[str, Any]:
    """Job labels: a string map in which the provider's own keys are refused (they are set for you)."""
    checked = string_map(example='{"team": "data"}')(value, context, numbers_as_text)
    taken = sorted(key for key in checked if key in context.provider_labels)
    if taken:
        raise Invalid(
            f"label key(s) {', '.join(map(repr, taken))} are set by the provider itself (they record "
            "which task and try owns the job)",
            f"rename your label(s); the provider's keys are {', '.join(sorted(context.provider_labels))}",
            "P-LABELS",
        )
    return checked


def volumes(value: Any, context: Context, numbers_as_text: bool) -> list[Any]:
    """A list of Batch ``Volume`` objects (camelCase mappings); their fields are the validator's."""
    example = '[{"gcs": {"remotePath": "bucket"}, "mountPath": "/mnt/data"}]'
    if isinstance(value, Mapping):
        raise _type_error(
            "a list of Batch Volume mappings", value, f"wrap it in a list: [{_REPR.repr(value)}]"
        )
    if not isinstance(value, (list, tuple)):
        raise _type_error("a list of Batch Volume mappings", value, f"write e.g. {example}")
    for index, entry in enumerate(value):
        if entry is not UNKNOWN and not isinstance(entry, Mapping):
            raise Invalid(
                f"item [{index}] is {describe(entry)}; every volume is a mapping", f"write e.g. {example}"
            )
    return list(value)


def job_overrides(value: Any, context: Context, numbers_as_text: bool) -> dict[str, Any]:
    """A mapping of Batch Job fields merged over the rendered job; it may not break image streaming.

    Returned with snake_case field names spelled camelCase, as the rendered job is, so that the
    streaming checks, the merge and the naming of problems all read one spelling.
    """
    if not isinstance(value, Mapping):
        raise _type_error(
            "a mapping of Batch Job fields (camelCase or snake_case)",
            value,
            'write e.g. {"priority": 10}; a template must render to a mapping '
            "(render_template_as_native_obj=True on the DAG)",
        )
    # Loaded here, not with this module: the field table costs parse time only to DAGs with overrides.
    from airflow_batchstream.jobspec.names import camel_case_fields

    overrides = camel_case_fields(dict(value))
    for path, container in _override_containers(overrides):
        _check_streaming_override(path, container, context)
    return overrides


def _override_containers(overrides: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(path, container) of every container the overrides write into."""
    for g, group in _entries(overrides.get("taskGroups")):
        spec = group.get("taskSpec")
        runnables = spec.get("runnables") if isinstance(spec, Mapping) else None
        for r, runnable in _entries(runnables):
            container = runnable.get("container")
            if isinstance(container, Mapping):
                yield f"taskGroups[{g}].taskSpec.runnables[{r}].container", container


def _entries(value: Any) -> Iterator[tuple[int, Mapping[str, Any]]]:
    if isinstance(value, (list, tuple)):
        for index, entry in enumerate(value):
            if isinstance(entry, Mapping):
                yield index, entry


def _check_streaming_override(path: str, container: Mapping[str, Any], context: Context) -> None:
    streaming = container.get("enableImageStreaming", context.streaming)
    if context.streaming and streaming is not True:
        raise Invalid(
            f"sets enableImageStreaming to {streaming!r}; this provider's jobs stream their image",
            "remove enableImageStreaming from job_overrides; to run a job that pulls its image "
            "instead, pass image_streaming=False (batchstream render: --no-image-streaming)",
            "IS-OFF",
            f"{path}.enableImageStreaming",
        )
    if not context.streaming and streaming is not False:
        raise Invalid(
            f"sets enableImageStreaming to {streaming!r}, but image_streaming is False",
            "remove enableImageStreaming from job_overrides, or set image_streaming=True",
            "P-COMBO",
            f"{path}.enableImageStreaming",
        )
    if context.streaming:
        for name, setting in container.items():
            if name not in STREAMING_FIELDS and setting not in (None, "", False):
                raise Invalid(
                    f"sets container field {name!r}, which image streaming does not support (Batch "
                    "would ignore it silently)",
                    f"remove {name}; a streaming container takes only {', '.join(sorted(STREAMING_FIELDS))}, "
                    "or pass image_streaming=False",
                    "IS-3",
                    f"{path}.{name}",
                )


def image_uri(value: Any, context: Context, numbers_as_text: bool) -> str:
    """An image reference; with streaming, an Artifact Registry image (rule IS-1)."""
    uri = text(any_text, "write e.g. us-central1-docker.pkg.dev/my-project/my-repo/my-image:1.0")(
        value, context, numbers_as_text
    )
    if context.streaming and context.policy is not None:
        _, problems = parse_image(uri, context.policy)
        error = next((p for p in problems if p.is_error), None)
        if error:
            raise Invalid(error.message, error.fix, error.rule)
    return uri


def impersonation_chain(value: Any, context: Context, numbers_as_text: bool) -> str | list[str]:
    """A service account e-mail, or a list of them (each impersonating the next)."""
    if isinstance(value, str):
        return text(email_reason, "write the service account's e-mail")(value, context, numbers_as_text)
    return string_list(email_reason)(value, context, numbers_as_text)


def validation_policy(value: Any, context: Context, numbers_as_text: bool) -> ValidationPolicy:
    if isinstance(value, ValidationPolicy):
        return value
    raise _type_error(
        "a ValidationPolicy", value, "pass ValidationPolicy(...) from airflow_batchstream.jobspec.policy"
    )


def optional_url(value: Any, context: Context, numbers_as_text: bool) -> str:
    return (
        ""
        if value == ""
        else text(url_reason, "write e.g. https://registry.example.com")(value, context, numbers_as_text)
    )
