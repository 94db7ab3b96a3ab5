"""What the dialplan reads to record a call without waiting for the daemon, and the file's name.

The ``cti-record`` gosub (asterisk-config/extensions.conf) runs on the agent's leg as it
answers. It must not wait on an AMI round trip (an agent answering at once would go unrecorded),
so everything it needs is set ahead of any call, as dialplan globals the recording service
publishes (:func:`dialplan_globals`, AMI ``Setvar`` without a channel):

* ``CTI_RECORD_D_<did>``, ``CTI_RECORD_Q_<queue>``, ``CTI_RECORD_T_<trunk>`` and
  ``CTI_RECORD_A_<agent endpoint>``: the policy (``always``, ``demand``, ``never``) of the group
  each maps to. The gosub takes the first one set, in the order :meth:`Directory.group_for`
  picks a call's group (DID, queue, trunk's default group, the agent's group), so the dialplan
  and the daemon agree on which group a call belongs to;
* ``CTI_ANNOUNCE_<queue or extension>``: the sound the caller hears first (``cti-announce``).

A policy's value is stamped with the publisher's generation, ``always@<generation>``, and the
publisher sets ``CTI_RECORD_GEN`` to its generation: the gosub counts only values of the
current generation. Globals live as long as Asterisk does, so a DID unmapped while no daemon
ran (or mapped by another store that once served this PBX) would otherwise keep a policy that
no group has any more.

The gosub names the file from the answering leg itself, ``rec-<linkedid>-<uniqueid>``
(:func:`record_file`); the daemon learns that a recording started, and its name, from the
``MixMonitorStart`` AMI event of that leg (class ``call``, which it reads anyway).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from cti.pop.directory import Directory

__all__ = [
    "ANNOUNCE_PREFIX",
    "GENERATION_VARIABLE",
    "RECORD_PREFIX",
    "announce_variable",
    "dialplan_globals",
    "policy_in",
    "record_file",
]

ANNOUNCE_PREFIX = "CTI_ANNOUNCE_"  # + queue or extension: read by the cti-announce gosub
RECORD_PREFIX = "CTI_RECORD_"  # + D_/Q_/T_/A_ and the key: read by the cti-record gosub
GENERATION_VARIABLE = "CTI_RECORD_GEN"  # the generation whose policy values count
_NAME_PART = re.compile(r"[^A-Za-z0-9-]")
_MAX_NAME = 64  # recordings.id


def _key(text: str) -> str:
    """Only letters, digits and _ kept, as the dialplan's ``FILTER(A-Za-z0-9_,...)`` keeps them
    (a queue named cti-claims: cticlaims)."""
    return "".join(c for c in text if c.isascii() and (c.isalnum() or c == "_"))


def announce_variable(key: str) -> str:
    """``CTI_ANNOUNCE_<key>`` for a queue or an agent's extension."""
    return ANNOUNCE_PREFIX + _key(key)


def record_file(linkedid: str, uniqueid: str) -> str:
    """The recording's name (its file without ``.wav``, and its id) for the leg ``uniqueid`` of
    call ``linkedid``, as the gosub builds it: dots become dashes, only letters, digits and
    dashes stay, at most 64 characters (``rec-1765000000-12-1765000003-15``)."""
    parts = (_NAME_PART.sub("", part.replace(".", "-")) for part in (linkedid, uniqueid))
    return f"rec-{'-'.join(parts)}"[:_MAX_NAME]


def policy_in(value: str, generation: str) -> str:
    """The policy a ``CTI_RECORD_*`` value holds for the gosub (``cti-record-mode``): the part
    before ``@`` when the part after it is the current ``generation``, else "" (not set)."""
    policy, _, stamp = value.partition("@")
    return policy if stamp == generation else ""


def dialplan_globals(
    directory: Directory,
    server: str,
    policy_of: Callable[[str], str],
    sound_of: Callable[[str], str],
    generation: str,
) -> dict[str, str]:
    """Every global the dialplan of ``server`` reads, by name: recording policies by DID, queue,
    trunk and agent endpoint (groups that exist only, as :meth:`Directory.group_for` skips the
    others) stamped with ``generation``, and the announcement by queue and agent extension
    ("" for none). ``CTI_RECORD_GEN`` itself is the publisher's to set, after these."""
    out: dict[str, str] = {}
    groups = directory.groups

    def record(kind: str, key: str, group: str) -> None:
        if group in groups and _key(key):
            out[f"{RECORD_PREFIX}{kind}_{_key(key)}"] = f"{policy_of(group)}@{generation}"

    for did, group in directory.did_groups.items():
        record("D", did, group)
    for queue, group in directory.queue_groups.items():
        record("Q", queue, group)
        out[announce_variable(queue)] = sound_of(group)
    for (trunk_server, trunk), group in directory.trunk_groups.items():
        if trunk_server == server:
            record("T", trunk, group)
    for endpoint, owners in directory.endpoint_owners.items():
        if not owners:
            continue
        name = endpoint.rpartition("/")[2]
        group = directory.group_for(did=None, queue=None, agent=owners[0]).name
        if group in groups:
            out[f"{RECORD_PREFIX}A_{_key(name)}"] = f"{policy_of(group)}@{generation}"
        if name.isdigit():
            out[announce_variable(name)] = sound_of(group)
    return out
