"""The setup wizard's service: locations, numbers, devices, where the wizard stands, and the
summary its last step shows. Every change is audited through the ``audit`` port (the admin
history in the daemon). Users are added with the admin console's own import
(:mod:`cti.admin.provisioning`), which the wizard's users step drives.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from typing import Any, Protocol

from cti.admin.pbxconf import SiteDevice, sip_digest
from cti.errors import CtiError, ValidationFailed
from cti.numbers import RegionSource, region_source
from cti.secretbox import SecretBox
from cti.site import records
from cti.site.catalog import MODELS, model_for
from cti.site.values import (
    LocationInput,
    NumberInput,
    check_letter,
    check_location,
    check_mac,
    check_number,
    check_step,
)
from cti.store import AgentInfo, Role, Store

__all__ = ["AuditSink", "SiteAdmin", "provision_ha1"]

_MAX_BATCH = 1000


class AuditSink(Protocol):
    """Where the site's changes are recorded (the admin history's ``record``)."""

    def __call__(self, kind: str, details: dict[str, Any], actor: str | None) -> None: ...


def provision_ha1(mac: str, realm: str, secret: str) -> str:
    """MD5(mac:realm:secret), the HA1 of RFC 7616's MD5 digest a phone proves itself with."""
    return hashlib.md5(f"{mac}:{realm}:{secret}".encode(), usedforsecurity=False).hexdigest()


def _row_errors(rows: Sequence[Any], what: str) -> None:
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise ValidationFailed(f"{what} is a list of objects", details={"field": what})
    if len(rows) > _MAX_BATCH:
        raise ValidationFailed(f"at most {_MAX_BATCH} {what} at once", details={"field": what})


def _error(row: int, exc: CtiError) -> dict[str, Any]:
    return {"row": row, "field": exc.details.get("field"), "message": exc.message}


class SiteAdmin:
    """What the wizard reads and changes."""

    def __init__(
        self,
        store: Store,
        secrets_box: SecretBox,
        audit: AuditSink,
        *,
        provision_realm: str = "cti-provisioning",
        default_region: str | RegionSource = "US",
    ) -> None:
        self._store = store
        self._box = secrets_box
        self._audit = audit
        self.provision_realm = provision_realm
        self._regions = region_source(default_region)  # read per request: admins may change it

    @property
    def _region(self) -> str:
        return self._regions.default_region()

    def check_location(self, body: dict[str, Any]) -> LocationInput:
        """A location as the wizard's form would send it, checked (the workbook's rows)."""
        return check_location(body, self._region)

    async def state(self) -> dict[str, Any]:
        """Everything the wizard shows, and the step it was left at."""
        store = self._store
        found = await store.aio.run(records.devices, store)
        step = await store.aio.run(records.progress, store)
        return {
            "step": step or "locations",
            "locations": await store.aio.run(records.locations, store),
            "numbers": await store.aio.run(records.numbers, store),
            "devices": [
                {"mac": d.mac, "model": d.model, "user": d.username, "location": d.location}
                for d in found
            ],
            "models": [m.as_dict() for m in MODELS],
        }

    async def set_step(self, step: Any, actor: str) -> None:
        clean = check_step(step)
        await self._store.aio.run(records.set_progress, self._store, clean)
        self._audit("site.wizard_step", {"step": clean}, actor)

    async def add_location(self, body: dict[str, Any], actor: str) -> int:
        value = check_location(body, self._region)
        key = await self._store.aio.run(records.add_location, self._store, value)
        details = {"location": value.name, "callback": value.callback}
        self._audit("site.location_added", details, actor)
        return key

    async def add_numbers(self, rows: Any, actor: str) -> None:
        """Add numbers; any bad row refuses them all, with every row's errors listed."""
        _row_errors(rows, "numbers")
        values: list[NumberInput] = []
        errors = []
        for index, row in enumerate(rows):
            try:
                values.append(check_number(row, self._region))
            except ValidationFailed as exc:
                errors.append(_error(index, exc))
        if errors:
            raise ValidationFailed("some numbers are not valid", details={"errors": errors})
        await self._store.aio.run(records.add_numbers, self._store, values)
        listed = [{"number": v.number, "status": v.status} for v in values]
        self._audit("site.numbers_added", {"numbers": listed}, actor)

    async def upload_letter(self, number: str, data: bytes, name: str, actor: str) -> None:
        letter = check_letter(data, name)
        digits = number.strip().removeprefix("+")
        await self._store.aio.run(records.set_letter, self._store, digits, letter)
        details = {"number": digits, "file": letter.name, "type": letter.media_type}
        self._audit("site.letter_uploaded", {**details, "bytes": len(data)}, actor)

    async def add_devices(self, rows: Any, actor: str) -> list[dict[str, str]]:
        """Add devices; any bad row refuses them all. Return each device's provisioning secret
        (shown once: only its HA1 is kept)."""
        _row_errors(rows, "devices")
        store = self._store
        taken = {d.mac for d in await store.aio.run(records.devices, store)}
        users = {a.username for a in await store.aio.run(store.agents)}
        places = {loc["name"] for loc in await store.aio.run(records.locations, store)}
        new: list[records.NewDevice] = []
        shown: list[dict[str, str]] = []
        errors: list[dict[str, Any]] = []
        for index, row in enumerate(rows):
            try:
                device, secret = self.new_device(row, taken, users, places)
            except ValidationFailed as exc:
                errors.append(_error(index, exc))
                continue
            taken.add(device.mac)
            new.append(device)
            shown.append({"mac": device.mac, "provisioning_secret": secret})
        if errors:
            raise ValidationFailed("some devices are not valid", details={"errors": errors})
        await store.aio.run(records.add_devices, store, new)
        listed = [{"mac": d.mac, "model": d.model, "user": d.username} for d in new]
        self._audit("site.devices_added", {"devices": listed}, actor)
        return shown

    def new_device(
        self, row: dict[str, Any], taken: set[str], users: set[str], places: set[str]
    ) -> tuple[records.NewDevice, str]:
        """Check one device row against the MACs ``taken``, the ``users`` and the location
        names ``places``; the device to add and its provisioning secret (shown once)."""
        model = model_for(str(row.get("model", "")))
        if model is None:
            message = "model: pick one of the listed models"
            raise ValidationFailed(message, details={"field": "model"})
        if model.needs_mac:
            mac = check_mac(str(row.get("mac", "")))
        else:  # a softphone has no MAC of its own: a random locally administered one (bit 1)
            mac = f"{secrets.randbits(8) & 0xFC | 0x02:02x}{secrets.token_hex(5)}"
        if mac in taken:
            raise ValidationFailed("mac: that device is already added", details={"field": "mac"})
        username = str(row.get("user", "")).strip()
        if username not in users:
            raise ValidationFailed(f"user: no user {username[:64]!r}", details={"field": "user"})
        location = str(row.get("location", "")).strip()
        if location not in places:
            raise ValidationFailed(
                f"location: no location {location[:64]!r}", details={"field": "location"}
            )
        secret = secrets.token_urlsafe(18)
        device = records.NewDevice(
            mac=mac,
            model=model.key,
            username=username,
            location=location,
            sip_secret=self._box.seal(secrets.token_urlsafe(18)),
            provision_ha1=provision_ha1(mac, self.provision_realm, secret),
        )
        return device, secret

    async def pbx_devices(self, realm: str) -> list[SiteDevice]:
        """Every device as the config generator writes it (:mod:`cti.admin.pbxconf`)."""
        store = self._store
        rows = await store.aio.run(records.devices, store)
        extensions = {a.username: _extension(a) for a in await store.aio.run(store.agents)}
        groups = await store.aio.run(store.agent_group_names)  # the device joins their queues
        return [
            SiteDevice(
                endpoint=d.endpoint,
                username=d.username,
                display_name=d.display_name,
                extension=extensions.get(d.username, ""),
                sip_digest=sip_digest(d.endpoint, realm, self._box.open(d.sip_secret)),
                callback=d.callback,
                groups=tuple(groups.get(d.username, ())),
            )
            for d in rows
        ]

    async def remove_device(self, mac: str, actor: str) -> None:
        clean = check_mac(mac)
        await self._store.aio.run(records.remove_device, self._store, clean)
        self._audit("site.device_removed", {"mac": clean}, actor)

    async def summary(self) -> dict[str, Any]:
        """What was set up and what is left (the wizard's completion step)."""
        state = await self.state()
        agents = await self._store.aio.run(self._store.agents)
        with_device = {d["user"] for d in state["devices"]}
        left: list[str] = []
        if not state["locations"]:
            left.append("add a location with its emergency address")
        for n in state["numbers"]:
            if n["status"] == "porting" and not n["loa_name"]:
                left.append(f"upload the letter of authorisation for +{n['number']}")
            elif n["status"] == "porting":
                left.append(f"+{n['number']} is being ported (due {n['due_date']})")
            elif n["status"] == "failed":
                left.append(f"the port of +{n['number']} failed: {n['reason']}")
        # Admins (and deactivated users) take no calls: only they need no device.
        people = [
            a.username
            for a in agents
            if a.role != Role.ADMIN and a.active and a.username not in with_device
        ]
        if people:
            left.append(f"{len(people)} users have no device: {', '.join(people[:20])}")
        return {
            "done": {
                "locations": len(state["locations"]),
                "numbers": len(state["numbers"]),
                "users": len(agents),
                "devices": len(state["devices"]),
            },
            "left": left,
        }


def _extension(agent: AgentInfo) -> str:
    for phone in agent.endpoints:
        tech, _, resource = phone.endpoint.partition("/")
        if tech.upper() == "PJSIP" and resource.isdigit():
            return resource
    return ""
