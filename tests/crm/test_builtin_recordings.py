"""The built-in CRM keeps a call's recording links (crm_calls.recordings, revision 0003): its
call history, the pop's history and the desktop's history API hand them back; a call logged
without any reads as none."""

from __future__ import annotations

import dataclasses

from crm_connectors.builtin import BuiltinCrm
from cti.pop.context import pop_context
from cti.pop.render import DEFAULT_TEMPLATE, PopRenderer
from tests.crm.test_builtin_writes import RECORD
from tests.supervisor.test_live import view

LINK = "https://cti.example.com/api/recordings/rec-4f1c"


async def test_the_history_shows_a_recorded_call_s_link(crm: BuiltinCrm) -> None:
    await crm.log_call(dataclasses.replace(RECORD, recordings=(LINK,)))
    plain = dataclasses.replace(RECORD, call_id="pbx1:1763717999.1", recordings=())
    await crm.log_call(plain)

    history = {h.call_id: h for h in await crm.history("+44 20 7946 0001")}
    assert history[RECORD.call_id].recordings == (LINK,)
    assert history[plain.call_id].recordings == ()
    match = (await crm.lookup("+442079460001")).single
    assert match is not None
    [entry] = [h for h in match.history if h.call_id == RECORD.call_id]
    assert entry.recordings == (LINK,)


async def test_the_pop_card_s_history_links_the_recording(crm: BuiltinCrm) -> None:
    await crm.log_call(dataclasses.replace(RECORD, recordings=(LINK, "javascript:alert(1)")))
    found = await crm.lookup("+442079460001")
    context = pop_context(
        view("c9"), found, "done", agent="alice", group="Support", number="+442079460001"
    )
    html = PopRenderer().render(DEFAULT_TEMPLATE, context)
    assert f'<a class="recording" href="{LINK}"' in html
    assert html.count('class="recording"') == 1  # only http(s) links are printed
