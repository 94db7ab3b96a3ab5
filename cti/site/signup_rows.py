"""Signup links as rows: finding one by a token's hash, its state, and the admin's listing.

Only hashes are looked up; a row never carries a token. Used by :mod:`cti.site.signup`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, select

from cti.store import Store
from cti.store.models import agents
from cti.store.site_tables import signup_tokens

__all__ = ["LinkRow", "LinkState", "find_link", "link_state", "links_listing"]

LinkState = Literal["revoked", "used", "expired", "password_set", "opened", "issued"]
_LISTED = 200


@dataclass(frozen=True, slots=True)
class LinkRow:
    id: int
    agent_id: int
    username: str
    display_name: str
    created_by: str
    created_at: datetime
    expires_at: datetime
    opened_at: datetime | None
    session_hash: str | None
    password_set_at: datetime | None
    used_at: datetime | None
    revoked_at: datetime | None
    download_expires_at: datetime | None


def _query() -> Any:
    return select(signup_tokens, agents.c.username, agents.c.display_name).select_from(
        signup_tokens.join(agents)
    )


def _row(row: Any) -> LinkRow:
    return LinkRow(**{k: getattr(row, k) for k in LinkRow.__slots__})


def find_link(
    conn: Connection, *, token_hash: str | None = None, download_hash: str | None = None
) -> LinkRow | None:
    """The link whose token (or softphone download token) hashes to the value given."""
    column, value = (
        (signup_tokens.c.token_hash, token_hash)
        if token_hash is not None
        else (signup_tokens.c.download_hash, download_hash)
    )
    row = conn.execute(_query().where(column == value)).first()
    return None if row is None else _row(row)


def link_state(link: LinkRow, now: datetime) -> LinkState:
    """Where a link stands; the first three refuse every step (410)."""
    if link.revoked_at is not None:
        return "revoked"
    if link.used_at is not None:
        return "used"
    if link.expires_at <= now:
        return "expired"
    if link.password_set_at is not None:
        return "password_set"
    return "opened" if link.opened_at is not None else "issued"


def links_listing(store: Store, now: datetime) -> list[dict[str, Any]]:
    """The latest links for the admin console, newest first."""
    with store.reading("site.signup_list") as conn:
        rows = conn.execute(_query().order_by(signup_tokens.c.id.desc()).limit(_LISTED)).all()
    out = []
    for row in rows:
        link = _row(row)
        out.append({
            "id": link.id,
            "user": link.username,
            "display_name": link.display_name,
            "created_by": link.created_by,
            "created_at": link.created_at.isoformat(),
            "expires_at": link.expires_at.isoformat(),
            "state": link_state(link, now),
        })  # fmt: skip
    return out
