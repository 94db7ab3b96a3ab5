"""Emergency calls carry their location: the generated dialplan sends each configured emergency
number out on the trunk with the caller id the device's endpoint sets (its location's callback),
and each device added by MAC gets its own endpoint, auth (digest only) and AOR."""

from __future__ import annotations

from cti.admin.pbxconf import (
    AGENTS_FILE,
    EMERGENCY_FILE,
    EmergencyRouting,
    SiteDevice,
    generate,
    sip_digest,
)
from tests.site.conftest import Site
from tests.site.test_wizard_api import HQ

DEVICE = SiteDevice(
    endpoint="d001565abcdef",
    username="ann",
    display_name="Ann",
    extension="2001",
    sip_digest=sip_digest("d001565abcdef", "asterisk", "s" * 24),
    callback="+12175550142",
)


def test_emergency_numbers_leave_on_the_trunk_with_the_location_callback() -> None:
    files = generate(
        [], [], devices=[DEVICE], emergency=EmergencyRouting(("911", "112"), "lab-trunk")
    )
    dialplan = files[EMERGENCY_FILE].splitlines()
    assert "[cti-emergency]" in dialplan
    for number in ("911", "112"):
        start = dialplan.index(
            f"exten => {number},1,NoOp(CTI: emergency call from ${{CHANNEL(endpoint)}})"
        )
        assert dialplan[start + 1] == (
            ' same => n,Set(CALLERID(num)=${IF($["${CTI_EMERGENCY_CID}" != ""]'
            "?${CTI_EMERGENCY_CID}:${CTI_OUTBOUND_CID})})"
        )
        assert dialplan[start + 3] == f" same => n,Dial(PJSIP/{number}@lab-trunk,120)"
    pjsip = files[AGENTS_FILE]
    assert "[d001565abcdef]\ntype = endpoint" in pjsip
    assert "set_var = CTI_EMERGENCY_CID=+12175550142" in pjsip
    assert f"password_digest = {DEVICE.sip_digest}" in pjsip and "s" * 24 not in pjsip


def test_without_a_trunk_or_with_bad_numbers_nothing_is_routed() -> None:
    files = generate([], [], emergency=EmergencyRouting(("911",), None))
    assert "exten =>" not in files[EMERGENCY_FILE]
    files = generate([], [], emergency=EmergencyRouting(("9x1", "1;Dial(x)"), "lab-trunk"))
    assert "exten =>" not in files[EMERGENCY_FILE]


async def test_the_site_devices_reach_the_generated_config(site: Site) -> None:
    await site.login()
    await site.client.post("/api/site/locations", json=HQ)
    row = {"mac": "00:15:65:ab:cd:ef", "model": "yealink-t54w", "user": "ann", "location": "HQ"}
    await site.client.post("/api/site/devices", json={"devices": [row]})
    (device,) = await site.service.pbx_devices("asterisk")
    assert device.endpoint == "d001565abcdef" and device.extension == "2001"
    assert device.callback == "+12175550142" and device.sip_digest.startswith("MD5:")
    text = generate([], [], devices=[device])[AGENTS_FILE]
    assert 'callerid = "ann" <2001>' in text or 'callerid = "Ann" <2001>' in text
