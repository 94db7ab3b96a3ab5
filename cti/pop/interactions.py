"""What the pop service asks of access numbers: the interaction a call was reserved for.

The pop service owns this port; :class:`cti.access_numbers.service.AccessNumbers` implements
it. ``match_call`` runs on the AMI read path: it answers from memory and never blocks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

__all__ = ["InteractionMatcher", "ReservationMatch"]


@dataclass(frozen=True, slots=True)
class ReservationMatch:
    """A call on a pool DID: the interaction it matched (``matched``), or ``none``.

    ``interaction`` is what the template sees (``who``, ``page``, ``order``, ``intent``, the
    whole ``context``, ``id``, ``pool``, ``waited_s``).
    """

    status: Literal["matched", "none"]
    interaction_id: str | None = None
    interaction: dict[str, object] = field(default_factory=dict)


class InteractionMatcher(Protocol):
    def match_call(self, did: str, caller: str, call_id: str) -> ReservationMatch | None:
        """The reservation a call on ``did`` from ``caller`` (E.164 or as reported) matches,
        consuming it; None when ``did`` is in no pool."""
        ...
