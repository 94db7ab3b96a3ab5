"""Pop template versions: the configuration variables, the published source, samples and diffs.

A group's pop is a *version*: template source (None: the product's standard template) plus
:class:`PopSettings`, the configuration variables a supervisor picks without writing template
code. Publishing a version writes :func:`published_source` to the group: the settings as a
``{% set config = {...} %}`` preamble on the template's first line (so line numbers stay the
template's own), and the trigger, dispositions and wrap-up time to the group's columns. The
preview renders exactly that source with the production renderer.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any, Literal

from crm_connectors.base import (
    Account,
    CallHistoryEntry,
    Case,
    Contact,
    LookupResult,
    Match,
    MatchKind,
    RecordRef,
)
from cti.core.events import Party
from cti.core.records import Direction, Outcome
from cti.core.updates import CallState, CallView
from cti.errors import TemplateError, ValidationFailed
from cti.pop.context import LookupState, pop_context
from cti.pop.render import PopRenderer

__all__ = [
    "FIELDS",
    "LAYOUTS",
    "SAMPLE_KINDS",
    "STANDARD_TEMPLATE",
    "PopSettings",
    "diff_versions",
    "preview_context",
    "publish_problems",
    "published_source",
    "sample_context",
]

STANDARD_TEMPLATE = resources.files("cti.templates").joinpath("standard.html.j2").read_text()

# Which fields of which CRM objects a pop may show (the field picker's catalogue).
FIELDS: dict[str, tuple[str, ...]] = {
    "contact": ("title", "email", "phones"),
    "account": ("name", "type", "phone"),
    "cases": ("number", "subject", "status", "owner", "origin", "opened_at"),
    "history": ("started_at", "direction", "outcome", "agent", "disposition", "duration", "notes"),
    # what a company's app sent with an access-number reservation (cti.access_numbers)
    "interaction": ("who", "intent", "order", "page"),
}
# The layouts of the standard template, per match count; the first is the default.
LAYOUTS: dict[str, tuple[str, ...]] = {
    "none": ("create_contact", "caller_only"),
    "one": ("full", "compact"),
    "several": ("picker", "expanded"),
}
SAMPLE_KINDS = ("none", "one", "several")
DEFAULT_DISPOSITIONS = ("Resolved", "Follow-up", "Escalated", "Wrong number")
MAX_DISPOSITIONS = 30
MAX_DISPOSITION_CHARS = 64  # what an agent's browser may send back (docs/protocol.md)
MAX_HISTORY = 20
Trigger = Literal["ringing", "answered"]


def _strings(value: object, what: str) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValidationFailed(f"{what} is a list of strings", details={"field": what})
    return tuple(value)


@dataclass(frozen=True, slots=True)
class PopSettings:
    """The configuration variables of one group's pop; validates itself."""

    trigger: Trigger = "ringing"
    dispositions: tuple[str, ...] = DEFAULT_DISPOSITIONS
    wrapup_seconds: int = 0
    fields: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: dict(FIELDS))
    history_limit: int = 5
    case_statuses: tuple[str, ...] = ()  # lower case; empty: every open status
    layout: Mapping[str, str] = field(
        default_factory=lambda: {kind: options[0] for kind, options in LAYOUTS.items()}
    )

    def __post_init__(self) -> None:
        if self.trigger not in ("ringing", "answered"):
            raise ValidationFailed(
                "trigger is 'ringing' or 'answered'", details={"field": "trigger"}
            )
        bad = [d for d in self.dispositions if not d.strip() or d != d.strip()]
        if (
            bad
            or len(set(self.dispositions)) != len(self.dispositions)
            or len(self.dispositions) > MAX_DISPOSITIONS
            or any(len(d) > MAX_DISPOSITION_CHARS for d in self.dispositions)
        ):
            raise ValidationFailed(
                f"dispositions are up to {MAX_DISPOSITIONS} distinct names of 1 to "
                f"{MAX_DISPOSITION_CHARS} characters without surrounding spaces",
                details={"field": "dispositions"},
            )
        if not 0 <= self.wrapup_seconds <= 3600:
            raise ValidationFailed("wrap-up lasts 0 to 3600 seconds", details={"field": "wrapup"})
        if not 0 <= self.history_limit <= MAX_HISTORY:
            raise ValidationFailed(
                f"past calls shown: 0 to {MAX_HISTORY}", details={"field": "history_limit"}
            )
        for obj, names in self.fields.items():
            if obj not in FIELDS or not set(names) <= set(FIELDS[obj]):
                raise ValidationFailed(
                    f"unknown field in {obj}", details={"field": "fields", "object": obj[:40]}
                )
        if set(self.layout) != set(LAYOUTS) or any(
            self.layout[k] not in LAYOUTS[k] for k in LAYOUTS
        ):
            raise ValidationFailed(
                "layout names one option for none, one and several", details={"field": "layout"}
            )
        if any(not s.strip() or len(s) > 64 or s != s.lower() for s in self.case_statuses):
            raise ValidationFailed(
                "case statuses are lower-case names of 1 to 64 characters",
                details={"field": "case_statuses"},
            )

    @classmethod
    def from_json(cls, data: object) -> PopSettings:
        """Build settings from what the console sent (missing keys take their defaults)."""
        if not isinstance(data, dict):
            raise ValidationFailed("settings are a JSON object")
        unknown = set(data) - set(_PARSERS)
        if unknown:
            raise ValidationFailed("unknown settings", details={"unknown": sorted(unknown)[:10]})
        return cls(**{key: _PARSERS[key](value) for key, value in data.items()})

    def as_json(self) -> dict[str, Any]:
        """The settings as JSON values, every key present, in a stable order."""
        return {
            "trigger": self.trigger,
            "dispositions": list(self.dispositions),
            "wrapup_seconds": self.wrapup_seconds,
            "fields": {obj: list(self.fields.get(obj, ())) for obj in FIELDS},
            "history_limit": self.history_limit,
            "case_statuses": list(self.case_statuses),
            "layout": {kind: self.layout[kind] for kind in LAYOUTS},
        }

    def template_config(self) -> dict[str, Any]:
        """What templates see as ``config``."""
        data = self.as_json()
        return {
            "fields": data["fields"],
            "history_limit": data["history_limit"],
            "case_statuses": data["case_statuses"],
            "layout": data["layout"],
            "dispositions": data["dispositions"],
            "trigger": data["trigger"],
            "wrapup_seconds": data["wrapup_seconds"],
        }


def _whole(name: str) -> Callable[[object], int]:
    def parse(value: object) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValidationFailed(f"{name} is a whole number", details={"field": name})
        return value

    return parse


def _fields(value: object) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, dict):
        raise ValidationFailed("fields maps objects to lists of field names")
    given = {str(k): _strings(v, f"fields.{k}") for k, v in value.items()}
    if set(given) - set(FIELDS):
        raise ValidationFailed("fields of unknown objects", details={"field": "fields"})
    return {obj: given.get(obj, ()) for obj in FIELDS}  # an object left out shows nothing


def _layout(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ValidationFailed("layout maps none/one/several to a layout")
    return {str(k): str(v) for k, v in value.items()}


_PARSERS: dict[str, Callable[[object], Any]] = {
    "trigger": lambda value: value,
    "dispositions": lambda value: _strings(value, "dispositions"),
    "wrapup_seconds": _whole("wrapup_seconds"),
    "history_limit": _whole("history_limit"),
    "fields": _fields,
    "case_statuses": lambda value: tuple(
        s.strip().lower() for s in _strings(value, "case_statuses")
    ),
    "layout": _layout,
}


# ---------------------------------------------------------------------------- the source
def _literal(value: object) -> str:
    """``value`` as a jinja2 literal; no template delimiter can appear in it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        encoded = json.dumps(value, ensure_ascii=True)
        for char in "{}%#":
            encoded = encoded.replace(char, f"\\u{ord(char):04x}")
        return encoded
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_literal(str(k))}: {_literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    raise TypeError(f"no template literal for {type(value).__name__}")


def published_source(source: str | None, settings: PopSettings) -> str:
    """The template a group pops with: ``config`` set on line 1, then the template itself."""
    preamble = "{%- set config = " + _literal(settings.template_config()) + " -%}"
    return preamble + (STANDARD_TEMPLATE if source is None else source)


def publish_problems(
    renderer: PopRenderer, source: str | None, settings: PopSettings
) -> list[dict[str, object]]:
    """Why this version may not go live: it does not compile, or fails on a sample call."""
    text = published_source(source, settings)
    try:
        renderer.compile(text)
    except TemplateError as exc:
        return [{"sample": None, **exc.details, "error": exc.message}]
    problems: list[dict[str, object]] = []
    for kind in SAMPLE_KINDS:
        try:
            renderer.render(text, sample_context(kind))
        except TemplateError as exc:
            problems.append({"sample": kind, **exc.details, "error": exc.message})
    return problems


def diff_versions(
    old_source: str | None,
    old_settings: PopSettings,
    new_source: str | None,
    new_settings: PopSettings,
    *,
    old_label: str,
    new_label: str,
) -> str:
    """A unified diff of two versions: their settings (as JSON) then their template source."""

    def lines(source: str | None, settings: PopSettings) -> list[str]:
        text = json.dumps(settings.as_json(), indent=2, ensure_ascii=False)
        body = "{# the standard template #}\n" if source is None else source
        return [f"settings: {line}\n" for line in text.splitlines()] + body.splitlines(True)

    return "".join(
        difflib.unified_diff(
            lines(old_source, old_settings),
            lines(new_source, new_settings),
            fromfile=old_label,
            tofile=new_label,
        )
    )


# ---------------------------------------------------------------------------- sample calls
_SAMPLE_TIME = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
_SAMPLE_NUMBER = "+442079460001"


def _ref(kind: str, key: str) -> RecordRef:
    return RecordRef("sample", kind, key, f"https://crm.example/{kind}/{key}")


def _sample_match(name: str, key: str, account: str, phone: str) -> Match:
    company = Account(_ref("account", f"A{key}"), account, "+442079460100", "customer")
    cases = tuple(
        Case(
            _ref("case", f"C{key}{n}"),
            f"CS-{key}{n}",
            subject,
            status,
            _SAMPLE_TIME - timedelta(days=n * 3),
            "Sam Supervisor",
            "phone",
        )
        for n, (subject, status) in enumerate(
            [("Invoice disputed", "open"), ("Delivery late", "pending"), ("Password", "new")], 1
        )
    )
    history = tuple(
        CallHistoryEntry(
            f"sample:{key}{n}",
            _SAMPLE_TIME - timedelta(days=n),
            Direction.INBOUND,
            Outcome.ANSWERED,
            phone,
            "442079460100",
            "alice",
            65.0 * n,
            "Follow-up",
            f"Called about case CS-{key}1 ({n})",
        )
        for n in range(1, 7)
    )
    contact = Contact(
        _ref("contact", key),
        name,
        email=f"{name.split(maxsplit=1)[0].lower()}@example.com",
        title="Purchasing manager",
        phones=(phone,),
        account=company,
    )
    return Match(MatchKind.CONTACT, contact, company, cases, history)


def _call(number: str, caller_name: str) -> CallView:
    return CallView(
        call_id="preview:1",
        server="preview",
        direction=Direction.INBOUND,
        state=CallState.RINGING,
        caller=Party(number, caller_name),
        called_number="442079460100",
        did="442079460100",
        trunk="carrier",
        queue="sales",
        started_at=0.0,
        answered_at=None,
        agent=None,
        ringing=("PJSIP/1001",),
        transferred_from=None,
        originate_id=None,
        flags=(),
    )


def sample_context(
    kind: str, *, caller_name: str = "ACME Ltd", group: str = "Sample group"
) -> dict[str, object]:
    """The context of a made-up call with no match, one match or several matches."""
    matches: tuple[Match, ...] = {
        "none": (),
        "one": (_sample_match("Alice Archer", "1", "Globex Corporation", _SAMPLE_NUMBER),),
        "several": (
            _sample_match("Bob Baker", "2", "Initech", _SAMPLE_NUMBER),
            _sample_match("Carol Carter", "3", "Umbrella plc", _SAMPLE_NUMBER),
        ),
    }[kind]
    lookup = LookupResult(_SAMPLE_NUMBER, _SAMPLE_NUMBER, matches)
    return preview_context(lookup, "done", caller_name=caller_name, group=group)


def preview_context(
    lookup: LookupResult | None,
    state: LookupState,
    *,
    caller_name: str = "",
    group: str,
    agent: str = "preview",
) -> dict[str, object]:
    """The context a pop of a call from ``lookup.number`` would have (production's builder)."""
    number = lookup.e164 or lookup.number if lookup else ""
    view = _call(number, caller_name)
    return pop_context(view, lookup, state, agent=agent, group=group, number=number)
