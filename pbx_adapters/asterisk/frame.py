"""The unit the AMI transport hands to the normalizer: one message, exactly as received.

An :class:`AmiFrame` is an immutable, ordered tuple of ``(key, value)`` string pairs. Keys keep
their case and repeated keys (``ChanVariable``, ``Variable``, ``Output``) stay in wire order.
It is a ``tuple`` subclass with no instance dictionary, so the framer builds one per message for
the price of a tuple; the helpers scan the pairs instead of building an index.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeAlias

__all__ = ["AmiFrame", "FrameSink"]

_NAME_KEYS = ("Event", "Response")


class AmiFrame(tuple[tuple[str, str], ...]):
    """One AMI message (event or response) as ordered ``(key, value)`` pairs.

    Build frames from untrusted data with :meth:`from_pairs`, which checks the shape; the
    framer calls the plain constructor because it only ever builds ``(str, str)`` pairs.
    """

    __slots__ = ()

    @classmethod
    def from_pairs(cls, pairs: Iterable[object]) -> AmiFrame:
        """Return a frame from pairs read from a file or a test; raise ``ValueError`` if bad."""
        checked: list[tuple[str, str]] = []
        for pair in pairs:
            if not (isinstance(pair, tuple | list) and len(pair) == 2):
                raise ValueError(f"an AMI header is a (str, str) pair, got {pair!r}")
            key, value = pair
            if not (isinstance(key, str) and isinstance(value, str)):
                raise ValueError(f"an AMI header is a (str, str) pair, got {pair!r}")
            checked.append((key, value))
        return cls(checked)

    @classmethod
    def of(cls, *pairs: tuple[str, str], **headers: str) -> AmiFrame:
        """Return a frame from pairs and then keyword headers; a convenience for tests."""
        return cls.from_pairs([*pairs, *headers.items()])

    def get(self, key: str, default: str = "") -> str:
        """Return the value of the first header named ``key`` (case-insensitive), or ``default``.

        Several lookups on one frame are cheaper through one :meth:`as_dict` call.
        """
        size = len(key)
        folded: str | None = None
        for name, value in self:
            if name == key:
                return value
            # Only a key of the same length can match when case is ignored.
            if len(name) == size:
                if folded is None:
                    folded = key.lower()
                if name.lower() == folded:
                    return value
        return default

    def get_all(self, key: str) -> list[str]:
        """Return the values of every header named ``key`` (case-insensitive), in wire order."""
        folded = key.lower()
        return [value for name, value in self if name == key or name.lower() == folded]

    @property
    def name(self) -> str:
        """Return the value of the first ``Event`` or ``Response`` header ('' if neither)."""
        if self:
            first, value = self[0]
            if first in _NAME_KEYS:
                return value
        for key, value in self:
            if key.lower() in ("event", "response"):
                return value
        return ""

    @property
    def is_event(self) -> bool:
        """Return True if the first ``Event``/``Response`` header is an ``Event``."""
        if self and self[0][0] in _NAME_KEYS:
            return self[0][0] == "Event"
        for key, _ in self:
            folded = key.lower()
            if folded in ("event", "response"):
                return folded == "event"
        return False

    @property
    def action_id(self) -> str:
        """Return the ``ActionID`` header ('' for unsolicited events)."""
        return self.get("ActionID")

    def as_dict(self) -> dict[str, str]:
        """Return ``{key: value}`` with keys as received; the first of repeated keys wins."""
        return dict(self[::-1])

    def as_lists(self) -> list[list[str]]:
        """Return ``[[key, value], ...]``, the JSON shape used by recordings."""
        return [[key, value] for key, value in self]

    def __repr__(self) -> str:
        return f"AmiFrame({tuple.__repr__(self)})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (AmiFrame, (tuple(self),))


FrameSink: TypeAlias = Callable[[AmiFrame, float], None]
"""Where frames go: ``sink(frame, received_at)``, called synchronously; it must not block."""
