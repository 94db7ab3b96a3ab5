"""The password a user chooses for themselves: long enough, not their name, hard to guess.

Pure. The guessing check is zxcvbn's estimate (its frequency lists: the 30,000 most common
leaked passwords, English words, names, film and TV words; keyboard runs, dates, repeats and
l33t substitutions of them): a password it scores below 3 (fewer than about 10^10 guesses) is
refused with zxcvbn's own hint. Refusals are :class:`~cti.errors.ValidationFailed` naming the
field and the rule (``details['rule']``) so the page can say what to change.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from zxcvbn import zxcvbn

from cti.errors import ValidationFailed

__all__ = ["MAX_LENGTH", "MIN_LENGTH", "MIN_SCORE", "check_new_password"]

MIN_LENGTH = 12
MAX_LENGTH = 128  # zxcvbn's matching grows with length; beyond this nobody types it
MIN_SCORE = 3  # zxcvbn: "safely unguessable: moderate protection from offline slow-hash"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _refuse(field: str, rule: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, details={"field": field, "rule": rule})


def check_new_password(
    password: object, username: str, *, field: str = "new_password", also: Sequence[str] = ()
) -> str:
    """Return ``password`` if the policy accepts it for ``username``; ``also``: other words of
    the user's own (display name, e-mail) that make it guessable to someone who knows them."""
    if not isinstance(password, str):
        raise _refuse(field, "type", f"{field} is required (text)")
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise _refuse(
            field, "length", f"the password must be {MIN_LENGTH} to {MAX_LENGTH} characters"
        )
    if _CONTROL.search(password):
        raise _refuse(field, "characters", "the password may not hold control characters")
    if username and username.casefold() in password.casefold():
        raise _refuse(field, "username", "the password must not contain your username")
    verdict = zxcvbn(password, user_inputs=[username, *also])
    if verdict["score"] < MIN_SCORE:
        feedback = verdict.get("feedback") or {}
        hint = feedback.get("warning") or "it is too easy to guess"
        raise _refuse(
            field,
            "common",
            f"the password is too easy to guess ({hint.rstrip('.').lower()}); "
            "use a few unrelated words",
        )
    return password
