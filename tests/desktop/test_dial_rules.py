"""Dial rules and the per-agent dial limit: pure, no PBX."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cti.config import DialSettings
from cti.dial_rules import DialLimiter, DialRules, DialTarget, display_number
from cti.errors import DialRefused, RateLimited
from cti.numbers import E164_PATTERN

RULES = DialRules(DialSettings(), "GB")


@pytest.mark.parametrize(
    ("raw", "number", "internal"),
    [
        ("+44 20 7946 0001", "+442079460001", False),
        ("020 7946 0001", "+442079460001", False),  # national, read in the default region
        ("tel:+442079460001", "+442079460001", False),
        ("1002", "1002", True),  # an internal extension
        (" 1002 ", "1002", True),
    ],
)
def test_numbers_are_normalized(raw: str, number: str, internal: bool) -> None:
    assert RULES.check(raw) == DialTarget(number, internal)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("100&PJSIP/1002", "not_a_number"),  # a second channel in the Originate
        ("1001@from-trunk", "not_a_number"),  # another context
        ("1002\r\nAction: Originate", "not_a_number"),  # AMI header injection
        ("0999", "not_a_number"),  # not an extension, not a number
        ("", "not_a_number"),
        ("1" * 65, "not_a_number"),
        ("+44 909 879 0000", "blocked_prefix"),  # premium rate
        ("0871 234 5678", "blocked_prefix"),
        ("+1 202 555 0100", "international"),
        ("00 33 1 23 45 67 89", "international"),
    ],
)
def test_refusals_name_the_rule(raw: str, reason: str) -> None:
    with pytest.raises(DialRefused) as refused:
        RULES.check(raw)
    assert refused.value.details["reason"] == reason
    assert refused.value.status == 403


def test_non_text_is_refused() -> None:
    for raw in (None, 1002, ["+442079460001"], {"number": "1"}):
        with pytest.raises(DialRefused):
            RULES.check(raw)


def test_allowed_prefixes_and_international_are_configurable() -> None:
    rules = DialRules(DialSettings(allow_international=True, allowed_prefixes=("+44", "+33")), "GB")
    assert rules.check("+33 1 23 45 67 89").number == "+33123456789"
    with pytest.raises(DialRefused) as refused:
        rules.check("+1 202 555 0100")
    assert refused.value.details["reason"] == "not_allowed"


def test_a_bad_extension_pattern_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="regular expression"):
        DialSettings(internal_extension="[")


@given(st.text(max_size=80))
def test_anything_either_becomes_a_plain_number_or_is_refused(raw: str) -> None:
    try:
        target = RULES.check(raw)
    except DialRefused:
        return
    assert E164_PATTERN.fullmatch(target.number) or (target.internal and target.number.isdigit())


def test_the_limiter_bounds_requests_per_agent_per_window() -> None:
    now = [0.0]
    limiter = DialLimiter(3, 10.0, clock=lambda: now[0])
    for _ in range(3):
        limiter.take("alice")
    with pytest.raises(RateLimited) as limited:
        limiter.take("alice")
    assert limited.value.details["retry_after_s"] == 10.0
    limiter.take("bob")  # each agent has their own budget
    now[0] = 10.5
    limiter.take("alice")


def test_display_number() -> None:
    assert display_number("+442079460001") == "+44 20 7946 0001"
    assert display_number("1002") == "1002"
