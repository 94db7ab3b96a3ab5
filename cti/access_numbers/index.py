"""The read path's view of live reservations: which interaction a call on a DID belongs to.

Pure and in memory (the AMI read path never waits on the store): the service refreshes it from
the store every second and adds what this process reserves at once; a match takes the
reservation out, so a second call on the same DID cannot match it too.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from cti.access_numbers.values import Interaction

__all__ = ["LiveIndex"]


class LiveIndex:
    """Live reservations by DID; ``pool_dids`` are every DID of every pool."""

    def __init__(self) -> None:
        self._by_did: dict[str, dict[str, Interaction]] = defaultdict(dict)
        self._taken: set[str] = set()  # matched here, until the store says it is no longer live
        self.pool_dids: frozenset[str] = frozenset()

    def replace(self, live: Iterable[Interaction], pool_dids: Iterable[str]) -> None:
        """Swap in the store's live reservations (keeping out the ones matched here)."""
        by_did: dict[str, dict[str, Interaction]] = defaultdict(dict)
        seen = set()
        for interaction in live:
            seen.add(interaction.id)
            if interaction.id not in self._taken:
                by_did[interaction.did][interaction.id] = interaction
        self._taken &= seen
        self._by_did = by_did
        self.pool_dids = frozenset(pool_dids)

    def add(self, interaction: Interaction) -> None:
        self._by_did[interaction.did][interaction.id] = interaction

    def remove(self, interaction_id: str, did: str) -> None:
        self._by_did.get(did, {}).pop(interaction_id, None)

    def match(self, did: str, caller: str | None, now: datetime) -> Interaction | None:
        """Take the live reservation of a call on ``did`` from ``caller``: the one for that
        caller number first, else the DID's exclusive hold (caller number unknown)."""
        held = self._by_did.get(did)
        if not held:
            return None
        live = [i for i in held.values() if i.expires_at > now]
        chosen = next((i for i in live if caller is not None and i.caller == caller), None)
        if chosen is None:
            chosen = next((i for i in live if i.caller is None), None)
        if chosen is not None:
            del held[chosen.id]
            self._taken.add(chosen.id)
        return chosen

    def __len__(self) -> int:
        return sum(len(held) for held in self._by_did.values())
