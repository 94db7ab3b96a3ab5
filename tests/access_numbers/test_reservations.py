"""Reserving, matching, expiring and counting on the real store (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from cti.access_numbers.errors import KeyRejected, OutOfScope, PoolExhausted
from cti.access_numbers.service import AccessNumbers, ReservationRequest
from cti.errors import NotFound, RateLimited
from cti.store import Store
from tests.access_numbers.conftest import DIDS, Clock, pool_spec


def request(caller: str | None = None, **context: object) -> ReservationRequest:
    return ReservationRequest(
        pool="web",
        customer_phone="+447700900123",
        customer_crm_id=None,
        caller=caller,
        context=dict(context) or {"intent": "refund", "order": "A-1"},
    )


async def key_for(access: AccessNumbers, per_minute: int = 600) -> tuple[object, str]:
    info, key = await access.issue_key("shop", ["web"], per_minute, "admin")
    return info, key


async def test_exclusive_holds_refuse_the_fourth_with_retry_after(
    access: AccessNumbers, clock: Clock
) -> None:
    _, key = await key_for(access)
    info = await access.authenticate(key, "reserve")
    got = [await access.reserve(info, request()) for _ in DIDS]
    assert sorted(i.did for i in got) == sorted(DIDS)  # one each: never a DID twice
    clock.advance(30)
    with pytest.raises(PoolExhausted) as refused:
        await access.reserve(info, request())
    assert refused.value.status == 503
    assert refused.value.details["retry_after_s"] == 90  # the first hold ends 120 s after it began

    await access.cancel(info, got[1].id)  # a cancelled one frees its number at once
    again = await access.reserve(info, request())
    assert again.did == got[1].did
    [status] = await access.status()
    assert (status.reserved, status.free, status.refused_today) == (3, 0, 1)


async def test_known_callers_share_a_did_and_each_call_matches_its_own(
    access: AccessNumbers,
) -> None:
    _, key = await key_for(access)
    info = await access.authenticate(key, "reserve")
    callers = [f"+4477009001{n:02d}" for n in range(5)]
    got = [await access.reserve(info, request(c, intent=f"i{n}")) for n, c in enumerate(callers)]
    assert len({i.did for i in got}) == 3  # free numbers first, then shared by distinct callers
    per_did: dict[str, list[str | None]] = {}
    for i in got:
        per_did.setdefault(i.did, []).append(i.caller)
    assert all(len(c) == len(set(c)) for c in per_did.values())

    shared = next(did for did, c in per_did.items() if len(c) == 2)
    second = next(i for i in got if i.did == shared and i.caller == per_did[shared][1])
    matched = access.match_call(shared, second.caller or "", "lab:1")
    assert matched is not None and matched.status == "matched"
    assert matched.interaction_id == second.id
    assert matched.interaction["intent"] == second.context["intent"]
    # The same caller again: consumed, so no reservation.
    again = access.match_call(shared, second.caller or "", "lab:2")
    assert again is not None and again.status == "none"
    assert access.match_call("442079469999", "+447700900100", "lab:3") is None  # no pool DID
    await access.close()  # lets the consume task finish
    found = await access.interaction(info, second.id)
    assert found.state == "matched" and found.call_id == "lab:1"


async def test_an_unknown_caller_holds_the_did_alone_and_matches_any_caller(
    access: AccessNumbers, clock: Clock
) -> None:
    _, key = await key_for(access)
    info = await access.authenticate(key, "reserve")
    held = await access.reserve(info, request(None))
    for n in range(2):
        other = await access.reserve(info, request(f"+44770090020{n}"))
        assert other.did != held.did
    # A third known caller: the two shared numbers, never the exclusive one.
    third = await access.reserve(info, request("+447700900299"))
    assert third.did != held.did
    matched = access.match_call(held.did, "+441234567890", "lab:9")
    assert matched is not None and matched.interaction_id == held.id


async def test_an_expired_reservation_does_not_match_and_is_counted(
    access: AccessNumbers, clock: Clock, store: Store
) -> None:
    _, key = await key_for(access)
    info = await access.authenticate(key, "reserve")
    held = await access.reserve(info, request("+447700900123"))
    clock.advance(121)
    assert await access.sweep() == 1
    await access.refresh()
    miss = access.match_call(held.did, "+447700900123", "lab:1")
    assert miss is not None and miss.status == "none"
    found = await access.interaction(info, held.id)
    assert found.state == "expired"
    [status] = await access.status()
    assert (status.expired_today, status.matched_today, status.free) == (1, 0, 3)


async def test_keys_scope_revoke_and_rate_limit(access: AccessNumbers, store: Store) -> None:
    await access.create_pool(pool_spec("other", ("442079461010",)), "admin")
    info, key = await key_for(access, per_minute=3)
    assert key.startswith("cti_ak_")
    [listed] = [k for k in await access.keys() if k.id == getattr(info, "id", None)]
    assert key not in repr(listed) and listed.prefix == key[:13]
    checked = await access.authenticate(key, "reserve")
    with pytest.raises(OutOfScope):
        await access.reserve(checked, ReservationRequest("other", None, "c1", None, {}))
    await access.authenticate(key, "reserve")
    await access.authenticate(key, "reserve")
    with pytest.raises(RateLimited) as limited:
        await access.authenticate(key, "reserve")
    assert float(str(limited.value.details["retry_after_s"])) > 0
    with pytest.raises(KeyRejected):
        await access.authenticate("cti_ak_not-a-key", "reserve")
    await access.revoke_key(checked.id, "admin")
    with pytest.raises(KeyRejected):
        await access.authenticate(key, "reserve")
    _, other_key = await access.issue_key("b", ["web"], 10, "admin")
    mine = await access.reserve(checked, request())
    with pytest.raises(NotFound):  # another key's interaction does not exist for this one
        await access.interaction(await access.authenticate(other_key, "get"), mine.id)
    uses = store.events(kind="access.api", limit=50)
    outcomes = {e.details["outcome"] for e in uses}
    assert {"granted", "rate_limited", "access.key_rejected", "access.out_of_scope"} <= outcomes
