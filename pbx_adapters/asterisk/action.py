"""Encode AMI actions for the wire, refusing anything that could inject a header.

Asterisk reads an action as ``Key: Value`` lines up to an empty line (``main/manager.c``
``get_input``), so a CR or LF inside a value would end the header early and let the rest be
read as further headers, or as a second action ("100\\r\\nAction: Command"). NUL bytes end C
strings inside Asterisk. Every value is checked here, before anything reaches a socket.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from cti.errors import ValidationFailed

__all__ = ["ActionHeaders", "action_name", "check_header", "encode_action", "headers_of"]

ActionHeaders = Sequence[tuple[str, str]]

_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")
_FORBIDDEN = re.compile(r"[\r\n\x00]")
_MAX_VALUE = 16 * 1024


def check_header(key: object, value: object) -> None:
    """Raise ``ValidationFailed`` unless ``key: value`` is one safe AMI header line."""
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise ValidationFailed(
            "an AMI header name must be 1-64 letters, digits, '-' or '_'",
            details={"header": repr(key)},
        )
    if not isinstance(value, str):
        raise ValidationFailed(
            f"the AMI header {key} must be a string", details={"header": key, "value": repr(value)}
        )
    if _FORBIDDEN.search(value):
        raise ValidationFailed(
            f"the AMI header {key} contains a line break or NUL",
            details={"header": key, "value": repr(value)},
        )
    if len(value) > _MAX_VALUE:
        raise ValidationFailed(
            f"the AMI header {key} is longer than {_MAX_VALUE} characters",
            details={"header": key, "length": len(value)},
        )


def headers_of(action: Mapping[str, str] | Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Return an action as ordered header pairs (a mapping keeps its insertion order)."""
    if isinstance(action, Mapping):
        return list(action.items())
    return [(key, value) for key, value in action]


def action_name(headers: ActionHeaders) -> str:
    """Return the ``Action`` header; raise ``ValidationFailed`` if there is not exactly one."""
    names = [value for key, value in headers if key.lower() == "action"]
    if len(names) != 1 or not names[0]:
        raise ValidationFailed(
            "an AMI action needs exactly one non-empty Action header",
            details={"headers": [key for key, _ in headers]},
        )
    return names[0]


def encode_action(headers: ActionHeaders) -> bytes:
    """Return the wire bytes of one action; raise ``ValidationFailed`` on any unsafe header."""
    action_name(headers)
    lines = []
    for key, value in headers:
        check_header(key, value)
        lines.append(f"{key}: {value}\r\n")
    lines.append("\r\n")
    return "".join(lines).encode("utf-8")
