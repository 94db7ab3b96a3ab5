"""The password an agent chooses through a signup link: long enough, not their username, not a
password everyone tries first. Pure; raises :class:`~cti.errors.ValidationFailed` naming the rule
(``details['rule']``) so the page can say what to change.
"""

from __future__ import annotations

import re

from cti.errors import ValidationFailed

__all__ = ["MIN_LENGTH", "check_password"]

MIN_LENGTH = 12
MAX_LENGTH = 128
# Passwords (and their stems) that guessing tools try first; compared case-insensitively after
# dropping trailing digits and punctuation ("Password123!" is "password").
_COMMON = frozenset(
    (
        "password",
        "passw0rd",
        "p@ssword",
        "p@ssw0rd",
        "qwerty",
        "qwertyuiop",
        "azerty",
        "asdfgh",
        "asdfghjkl",
        "zxcvbnm",
        "letmein",
        "welcome",
        "admin",
        "administrator",
        "changeme",
        "iloveyou",
        "monkey",
        "dragon",
        "football",
        "baseball",
        "sunshine",
        "princess",
        "shadow",
        "master",
        "superman",
        "batman",
        "trustno",
        "abc",
        "abcdef",
        "abcdefgh",
        "abcd",
        "qazwsx",
        "1q2w3e4r",
        "1qaz2wsx",
        "secret",
        "default",
        "login",
        "hello",
        "freedom",
        "whatever",
        "starwars",
        "summer",
        "winter",
        "spring",
        "autumn",
        "company",
        "support",
        "callcenter",
        "telephone",
        "asterisk",
    )
)
_TAIL = re.compile(r"[\d\W_]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _fail(rule: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"password: {message}", details={"field": "password", "rule": rule})


def check_password(password: object, username: str) -> str:
    """Return ``password`` if the policy accepts it."""
    if not isinstance(password, str):
        raise _fail("type", "must be text")
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise _fail("length", f"is {MIN_LENGTH} to {MAX_LENGTH} characters")
    if _CONTROL.search(password):
        raise _fail("characters", "holds no control characters")
    folded = password.casefold()
    if username and username.casefold() in folded:
        raise _fail("username", "must not contain your username")
    stem = _TAIL.sub("", folded)
    if stem in _COMMON or folded in _COMMON or len(set(folded)) <= 3 or folded.isdigit():
        raise _fail("common", "is too easy to guess; use a few unrelated words")
    return password
