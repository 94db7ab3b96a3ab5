# ruff: noqa: E501  (one agent per line reads best)
"""The Asterisk include files, against golden files (UPDATE_GOLDEN=1 rewrites them)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cti.admin.pbxconf import (
    ConfStyle,
    EmergencyRouting,
    GroupRouting,
    ProvisionedAgent,
    SiteDevice,
    diff,
    generate,
    sip_digest,
)

GOLDEN = Path(__file__).parent / "golden"
AGENTS = [
    ProvisionedAgent("jdoe", "Jane Doe", "2001", sip_digest("2001", "asterisk", "s" * 20), ("Claims",)),
    ProvisionedAgent("evil", 'Eve "x"; <y>,\nz', "2010", None, ("Claims", "Sales")),
    ProvisionedAgent("bob", "Bob B", "2002", sip_digest("2002", "asterisk", "t" * 20), ("Sales",)),
]  # fmt: skip
GROUPS = [
    GroupRouting("Claims", ("cti-claims",), ("442079460300", "+bad")),
    GroupRouting("Sales", ("sales",), ("442079460100",)),
    GroupRouting("Empty", ("cti-empty",), ()),
]
# Site devices added by MAC (cti.site): two for jdoe (one per location), one for bob, and one of
# a user with no extension and a hostile name (its caller id has no number; it rings for nobody).
# Each is a member of its user's groups' queues ("Gone" has no routing: nothing is written).
DEVICES = [
    SiteDevice("d001565abcdef", "jdoe", "Jane Doe", "2001", sip_digest("d001565abcdef", "asterisk", "u" * 24), "+12175550142", ("Claims",)),
    SiteDevice("d0004f2000001", "jdoe", "Jane Doe", "2001", sip_digest("d0004f2000001", "asterisk", "v" * 24), "+442079460999", ("Claims",)),
    SiteDevice("d805ec0112233", "bob", "Bob B", "2002", sip_digest("d805ec0112233", "asterisk", "w" * 24), "+12175550142", ("Sales", "Gone")),
    SiteDevice("d64167f445566", "noext", 'Nó "Ext"; <x>', "", sip_digest("d64167f445566", "asterisk", "x" * 24), "not-e164"),
]  # fmt: skip
EMERGENCY = EmergencyRouting(("911", "112", "9x1"), "lab-trunk")
STYLES = {
    "plain": ConfStyle(),
    "templated": ConfStyle(
        endpoint_template="agent-endpoint",
        aor_template="agent-aor",
        webrtc_template="webrtc-endpoint",
    ),
}


@pytest.mark.parametrize("style", sorted(STYLES))
def test_generated_files_match_the_golden_files(style: str) -> None:
    files = generate(AGENTS, GROUPS, STYLES[style], devices=DEVICES, emergency=EMERGENCY)
    assert sorted(files) == sorted(p.name for p in (GOLDEN / style).iterdir())  # none forgotten
    for name, text in files.items():
        golden = GOLDEN / style / name
        if os.environ.get("UPDATE_GOLDEN"):
            golden.parent.mkdir(parents=True, exist_ok=True)
            golden.write_text(text)
        assert text == golden.read_text(), name


def test_digest_is_rfc2617_ha1() -> None:
    # md5("2001:asterisk:secret") computed independently
    assert sip_digest("2001", "asterisk", "secret") == "MD5:5f1f12938b3333de7d84edef182caf3b"


def test_diff_shows_only_changed_files() -> None:
    files = generate(AGENTS, GROUPS)
    assert diff(files, files) == {}
    changed = diff({**files, "pjsip_cti_agents.conf": None}, files)
    assert list(changed) == ["pjsip_cti_agents.conf"]
    assert changed["pjsip_cti_agents.conf"].startswith("--- current/pjsip_cti_agents.conf")
