"""A device added by MAC rings for its agent: the generated ``CTI_DEVICES_<ext>`` globals the
dialplan's Dials append, and the directory's phone list, which makes pops follow the device."""

from __future__ import annotations

import dataclasses

from cti.admin.pbxconf import DEVICES_FILE, QUEUES_FILE, GroupRouting, ProvisionedAgent, generate
from tests.site.conftest import Site
from tests.site.test_emergency_config import DEVICE
from tests.site.test_wizard_api import HQ


def test_each_agent_extension_lists_its_devices_and_the_others_are_emptied() -> None:
    agents = [
        ProvisionedAgent("ann", "Ann", "2001", "MD5:x", ()),
        ProvisionedAgent("ben", "Ben", "2002", "MD5:y", ()),
    ]
    hostile = dataclasses.replace(DEVICE, endpoint="d1;Dial(x)", extension="2002")
    text = generate(agents, [], devices=[DEVICE, hostile])[DEVICES_FILE]
    lines = [line for line in text.splitlines() if not line.startswith(";") and line]
    assert lines == ["CTI_DEVICES_2001=&PJSIP/d001565abcdef", "CTI_DEVICES_2002="]


def test_a_device_joins_its_users_queues_even_when_the_user_is_not_provisioned_here() -> None:
    """The lab's agents live in queues.conf, not in the generated file: their devices are
    still added to the queues of their groups (``[sales](+)``), so queue calls ring them."""
    sales = GroupRouting("Sales", ("sales",), ())
    device = dataclasses.replace(DEVICE, groups=("Sales",))
    text = generate([], [sales], devices=[device])[QUEUES_FILE]
    member = "member => PJSIP/d001565abcdef,0,Ann,PJSIP/d001565abcdef"
    assert f"[sales](+)\n{member}\n" in text
    assert "[sales]" not in generate([], [sales], devices=[DEVICE])[QUEUES_FILE]  # no group


async def test_a_device_is_one_of_its_agents_phones_until_removed(site: Site) -> None:
    await site.login()
    await site.client.post("/api/site/locations", json=HQ)
    row = {"mac": "00:15:65:ab:cd:ef", "model": "yealink-t54w", "user": "ann", "location": "HQ"}
    await site.client.post("/api/site/devices", json={"devices": [row]})
    owners = site.store.endpoint_owners()
    assert owners["PJSIP/d001565abcdef"] == "ann" and owners["PJSIP/2001"] == "ann"
    site.store.update_agent("ann", active=False)
    assert "PJSIP/d001565abcdef" not in site.store.endpoint_owners()
    site.store.update_agent("ann", active=True)
    removed = await site.client.delete("/api/site/devices/001565abcdef")
    assert removed.status_code == 200
    assert "PJSIP/d001565abcdef" not in site.store.endpoint_owners()
