"""The agent desktop in Chromium against the lab: pops, click-to-dial, notes, reload, state.

Calls come from the carrier (SIPp) and ring the agents' pjsua2 phones; the daemon is the real
`cti serve`; the records land in the built-in CRM.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, insert

from crm_connectors.base import NewContact
from crm_connectors.builtin import BuiltinCrm
from crm_connectors.builtin.models import cases
from sip_tests.lab import DID_SALES, DID_SUPPORT, LabHandle, direct_did
from sip_tests.phone import AutoAnswer
from sip_tests.sipp import trunk_far_end
from tests.browser.conftest import ALICE_NUMBER, Desk, to_docs
from tests.e2e.daemon import DaemonProcess

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

ALICE_WORK = "+442079460002"  # Alice Archer's second number


@pytest.fixture
async def crm(desktop: DaemonProcess) -> AsyncIterator[BuiltinCrm]:
    async with BuiltinCrm.from_url(desktop.store_url, default_region="GB") as connector:
        yield connector


async def record_of(crm: BuiltinCrm, number: str, call_id: str, within: float = 15.0) -> Any:
    """The CRM's history entry of ``call_id`` once the outbox delivered it."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        found = [h for h in await crm.history(number, limit=50) if h.call_id == call_id]
        if found:
            return found[0]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no CRM record of {call_id} within {within} s")
        await asyncio.sleep(0.2)


def queue_member_line(lab: LabHandle, queue: str, interface: str) -> str:
    """The `queue show` line of ``interface``, as Asterisk prints its pause state."""
    out = lab.instance.cli(f"queue show {queue}")
    return next((line for line in out.splitlines() if interface in line), "")


async def test_a_ringing_call_pops_the_contact_with_cases(desk: Desk) -> None:
    phone = desk.phones("1001")["1001"]
    alice = await desk.agent()
    desk.ring(direct_did("1001"), name="ALICE ARCHER", hold_s=20)
    ringing = await asyncio.to_thread(phone.wait_ringing, 10)

    card = alice.card("Alice Archer")
    await card.wait_for()
    await card.locator(".badge", has_text="Ringing").wait_for()
    body = card.locator(".card-body")
    for text in ("Globex Corporation", "CS-1001", "Conveyor stops every morning", "Escalated"):
        await body.get_by_text(text).first.wait_for()
    assert await body.get_by_text("CS-1003").count() == 0  # closed cases stay out
    assert await card.locator(f'button.dial[data-number="{ALICE_NUMBER}"]').count() >= 1

    await asyncio.to_thread(phone.answer, ringing)
    await card.locator(".badge", has_text="On call").wait_for()
    notes = "Conveyor stops at 7:10 each morning; engineer booked for Thursday."
    await card.locator("textarea.notes").fill(notes)
    await card.locator("select.disposition").select_option("Call back")
    await card.locator(".saved-state", has_text="Saved").nth(1).wait_for()
    await alice.page.locator("#history-list .past").first.wait_for()
    await alice.page.fill("#search-q", "Globex")
    await alice.page.press("#search-q", "Enter")
    await alice.page.locator("#search-results .hit").first.wait_for()
    await alice.page.mouse.move(0, 0)
    await alice.page.wait_for_timeout(1200)  # the call clock shows a second or so
    to_docs(await alice.screenshot("agent-desktop.png"), "agent-desktop.png")
    alice.assert_clean()


async def test_clicking_a_number_in_the_pop_rings_the_agent_then_dials_it(desk: Desk) -> None:
    lab = desk.lab
    phone = desk.phones("1001")["1001"]
    phone.set_answer_policy(AutoAnswer(0.3))
    alice = await desk.agent()
    desk.ring(direct_did("1001"), hold_s=0.5)
    card = alice.card("Alice Archer")
    await card.locator(".badge", has_text="Call ended").wait_for(timeout=30_000)
    await asyncio.to_thread(phone.wait_ringing, 1)  # the inbound call, answered and over
    await asyncio.to_thread(lab.wait_idle, 10)

    far_end = trunk_far_end(lab.sip, answer_delay_s=0.3, hold_s=2.0)
    desk.sipp_calls.append(far_end)
    await card.locator(f'.card-body button.dial[data-number="{ALICE_WORK}"]').click()
    await alice.page.locator(".toast", has_text="pick up your phone").wait_for()

    originated = await asyncio.to_thread(phone.wait_ringing, 10)  # 1001 rings first...
    [invite] = await asyncio.to_thread(far_end.wait_outcome, "invite", 20)
    assert invite.fields["dialed"] == ALICE_WORK  # ...then the carrier gets the number
    assert originated.invite_at < far_end.started_at + 60
    await alice.page.locator(".toast", has_text="Your phone is connected").wait_for()
    outbound = alice.card("Outbound call")  # the far end answered: the pop of who was called
    await outbound.wait_for(timeout=15_000)
    await outbound.get_by_text("Alice Archer").first.wait_for()
    alice.assert_clean()


async def test_notes_and_disposition_reach_the_crm_record(desk: Desk, crm: BuiltinCrm) -> None:
    on_call = await desk.answered(hold_s=6)
    alice, card = on_call.agent, on_call.card
    call_id = await card.get_attribute("data-call-id")
    assert call_id

    notes = card.locator("textarea.notes")
    await notes.click()
    await alice.page.keyboard.type("Wants a quote for 40 more conveyor belts <urgent>")
    await card.locator("select.disposition").select_option("Quote sent")
    await card.locator(".saved-state", has_text="Saved").nth(1).wait_for()
    await card.locator(".saved-state", has_text="Saved").first.wait_for()

    await card.locator(".badge", has_text="Call ended").wait_for(timeout=30_000)  # caller left
    record = await record_of(crm, ALICE_NUMBER, call_id)
    assert record.notes == "Wants a quote for 40 more conveyor belts <urgent>"
    assert record.disposition == "Quote sent"
    assert record.agent == "alice"
    alice.assert_clean()


async def test_script_in_caller_id_and_crm_fields_shows_as_text(
    desk: Desk, crm: BuiltinCrm
) -> None:
    first = '<img src=x onerror="window.__pwned=1">'
    last = "<script>window.__pwned=2</script>"
    subject = "<svg onload=window.__pwned=3>refund</svg>"
    caller_name = "<script>window.__pwned=4</script><img src=x onerror=alert(5)>"
    contact = await crm.create_contact(
        NewContact(first, last, phones=("+442079468001",), email="x@example.com")
    )
    engine = create_engine(desk.daemon.store_url)
    with engine.begin() as conn:
        conn.execute(
            insert(cases).values(
                number="XSS-1",
                subject=subject,
                status="Open",
                owner_name="<b>owner</b>",
                origin="web",
                contact_id=int(contact.ref.record_id),
                opened_at=datetime.now(UTC),
            )
        )
    engine.dispose()

    desk.phones("1001")  # both calls ring at once: two pops on one page
    alice = await desk.agent()
    desk.ring(direct_did("1001"), "+442079468001", "Mallet", hold_s=1)
    desk.ring(direct_did("1001"), "+442079469123", caller_name, hold_s=1)

    crm_card = alice.card(f"{first} {last}")
    await crm_card.locator(".card-body").get_by_text(subject).wait_for()
    await crm_card.locator(".card-body").get_by_text("<b>owner</b>").wait_for()
    id_card = alice.card(caller_name)
    await id_card.locator("button.create-contact").wait_for()
    assert await alice.card().count() == 2
    assert (
        await alice.page.locator("article.card img, article.card script, article.card svg").count()
        == 0
    )

    await alice.page.fill("#search-q", "x@example.com")
    await alice.page.press("#search-q", "Enter")
    await alice.page.locator("#search-results .hit-title", has_text=first).wait_for()
    await alice.screenshot("several-pops.png")

    # Demo contact Mallory: markup in her name, her case and the notes of her last call.
    await alice.page.fill("#search-q", "mallory@acme.example")
    await alice.page.press("#search-q", "Enter")
    await alice.page.locator("#search-results .hit button", has_text="History").first.click()
    await (
        alice.page.locator("#history-list")
        .get_by_text("<script>alert('notes')</script>")
        .wait_for()
    )

    assert await alice.pwned() is None
    alice.assert_clean()


async def test_reloading_during_a_call_restores_the_pop_and_notes(desk: Desk) -> None:
    on_call = await desk.answered(hold_s=60)
    alice, card, call = on_call.agent, on_call.card, on_call.call
    await card.locator("textarea.notes").fill("Line 1 of the notes\nLine 2, before the reload")
    await card.locator("select.disposition").select_option("Sale")
    await card.locator(".saved-state", has_text="Saved").nth(1).wait_for()
    await card.locator(".saved-state", has_text="Saved").first.wait_for()

    await alice.page.reload()
    await alice.connected()
    card = alice.card("Alice Archer")
    await card.locator(".badge", has_text="On call").wait_for()
    notes = card.locator("textarea.notes")
    await notes.and_(alice.page.locator("textarea:not(:placeholder-shown)")).wait_for()
    assert await notes.input_value() == "Line 1 of the notes\nLine 2, before the reload"
    assert await card.locator("select.disposition").input_value() == "Sale"

    # Another agent can neither hang up alice's call nor read what she wrote on it.
    call_id = await card.get_attribute("data-call-id")
    async with httpx.AsyncClient(base_url=desk.daemon.origin) as bob:
        login = await bob.post("/login", json={"username": "bob", "password": "bob-demo"})
        csrf = {"X-CTI-CSRF": login.json()["csrf"]}
        refused = await bob.post("/api/calls/hangup", json={"call_id": call_id}, headers=csrf)
        assert (refused.status_code, refused.json()["error"]) == (404, "not_found")
        seen = (await bob.get("/api/calls/restore", params={"call_id": call_id})).json()
        assert (seen["notes"], seen["disposition"], seen["state"]) == ("", None, "elsewhere")

    await card.get_by_role("button", name="Hang up").click()  # call control from the page
    await card.locator(".badge", has_text="Call ended").wait_for(timeout=15_000)
    await asyncio.to_thread(call.wait_outcome, "remote_hangup", 10)
    alice.assert_clean()


async def test_blind_transfer_from_the_page_hands_the_caller_over(desk: Desk) -> None:
    on_call = await desk.answered(hold_s=8, also=("1002",))
    alice, card = on_call.agent, on_call.card
    await asyncio.to_thread(desk.lab.wait_bridged, "PJSIP/1001")
    await card.locator("input.transfer-target").fill("1002")
    await card.get_by_role("button", name="Transfer", exact=True).click()
    await card.locator(".badge", has_text="Transferred to 1002").wait_for(timeout=15_000)
    await asyncio.to_thread(on_call.phones["1002"].wait_ringing, 5)
    alice.assert_clean()


async def test_pausing_maps_onto_the_queue_and_the_pbx_state_comes_back(desk: Desk) -> None:
    lab = desk.lab
    alice = await desk.agent()
    pill = alice.page.locator("#state-pill")
    await alice.page.select_option("#state-select", "paused:Lunch")
    await pill.filter(has_text="Paused · Lunch").wait_for()
    assert "paused:Lunch" in queue_member_line(lab, "sales", "PJSIP/1001")

    # Someone else (a supervisor, the CLI) unpauses her: the page learns it from the PBX.
    lab.instance.cli("queue unpause member PJSIP/1001")
    await pill.filter(has_text="Ready").wait_for()
    assert "paused" not in queue_member_line(lab, "sales", "PJSIP/1001")
    alice.assert_clean()


async def test_wrap_up_pauses_the_agent_after_a_queue_call_until_she_ends_it(desk: Desk) -> None:
    lab = desk.lab
    desk.phones("1003")["1003"].set_answer_policy(AutoAnswer(0.3))  # carol: Support, wrap-up
    carol = await desk.agent("carol")
    desk.ring(DID_SUPPORT, hold_s=1)  # a queue call: Support's wrap-up is for queue calls
    await (
        carol.card("Alice Archer").locator(".badge", has_text="Call ended").wait_for(timeout=30_000)
    )
    pill = carol.page.locator("#state-pill")
    await pill.filter(has_text="Wrap-up ·").wait_for()  # counting down
    assert "paused:wrap-up" in queue_member_line(lab, "support", "PJSIP/1003")
    end = carol.page.get_by_role("button", name="End wrap-up")
    await end.click()
    await pill.filter(has_text="Ready").wait_for()
    await end.wait_for(state="hidden")
    assert "paused" not in queue_member_line(lab, "support", "PJSIP/1003")
    carol.assert_clean()


async def test_attended_transfer_consults_then_completes_on_hang_up(desk: Desk) -> None:
    lab = desk.lab
    on_call = await desk.answered(hold_s=10, also=("1002",))
    alice, card = on_call.agent, on_call.card
    await asyncio.to_thread(lab.wait_bridged, "PJSIP/1001")
    await card.locator("input.transfer-target").fill("1002")
    await card.get_by_role("button", name="Consult").click()
    await alice.page.locator(".toast", has_text="Consulting 1002").wait_for()
    await asyncio.to_thread(on_call.phones["1002"].wait_ringing, 10)  # alice talks to bob first
    await asyncio.to_thread(lab.wait_bridged, "PJSIP/1002")
    await asyncio.sleep(0.5)  # bob answered the consultation: nothing is transferred yet
    assert await card.locator(".badge", has_text="Transferred").count() == 0
    assert await card.get_by_role("button", name="Complete transfer").is_enabled()
    await card.get_by_role("button", name="Complete transfer").click()
    await alice.page.locator(".toast", has_text="Transfer to 1002 completed").wait_for()
    await card.locator(".badge", has_text="Transferred to 1002").wait_for(timeout=15_000)

    def caller_with_bob() -> bool:
        """Alice's phone is off the call; the caller and bob are up and bridged (through the
        transfer's Local channel pair until Asterisk optimizes it away)."""
        lines = lab.instance.cli("core show channels concise").splitlines()
        fields = [line.split("!") for line in lines]
        bridged = {f[0].split("-")[0]: f[12] for f in fields if len(f) > 12 and f[4] == "Up"}
        return (
            "PJSIP/1001" not in bridged
            and bool(bridged.get("PJSIP/1002"))
            and bool(bridged.get("PJSIP/lab"))
        )

    for _ in range(50):
        if caller_with_bob():
            break
        await asyncio.sleep(0.1)
    assert caller_with_bob(), lab.instance.cli("core show channels concise")
    alice.assert_clean()


async def test_an_unknown_caller_becomes_a_contact_or_is_linked_to_one(
    desk: Desk, crm: BuiltinCrm
) -> None:
    desk.phones("1001")  # both ring on alice's phone, unanswered, while she works on them
    alice = await desk.agent()
    new, known = "+442079465501", "+442079465502"
    for number in (new, known):
        desk.ring(direct_did("1001"), number, "", answer_timeout_s=15, hold_s=1)
    first = alice.card(f"No record matches {new}")
    await first.locator("button.create-contact").click()
    form = first.locator("form.create-form")
    assert await form.locator("input[name=phone]").input_value() == new  # prefilled
    await form.locator("input[name=first_name]").fill("Nadia")
    await form.locator("input[name=last_name]").fill("Newcomer")
    await form.get_by_role("button", name="Create contact").click()
    await alice.card("Nadia Newcomer").wait_for()  # the pop looked the caller up again

    second = alice.card(f"No record matches {known}")
    await second.locator(".card-status").click()  # focus it: the search offers to link
    await alice.page.fill("#search-q", "Ivan Ivanov")
    await alice.page.press("#search-q", "Enter")
    await (
        alice.page.locator("#search-results .hit", has_text="Ivan Ivanov")
        .get_by_role("button", name="Link caller")
        .click()
    )
    await alice.card("Ivan Ivanov").wait_for()
    assert [m.display_name for m in (await crm.lookup(known)).matches] == ["Ivan Ivanov"]
    assert [m.display_name for m in (await crm.lookup(new)).matches] == ["Nadia Newcomer"]
    alice.assert_clean()


async def test_a_pop_answered_by_a_colleague_goes_away(desk: Desk) -> None:
    desk.phones("1001", "1002")["1002"].set_answer_policy(AutoAnswer(2.0))
    alice = await desk.agent()
    bob = await desk.agent("bob")
    desk.ring(DID_SALES, hold_s=3)
    await alice.card("Alice Archer").wait_for()  # the sales queue rings both
    await bob.card("Alice Archer").locator(".badge", has_text="On call").wait_for(timeout=15_000)
    await alice.page.locator(".toast", has_text="was answered by a colleague").wait_for()
    assert await alice.card().count() == 0
    alice.assert_clean()
    bob.assert_clean()
