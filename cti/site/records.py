"""The site's reads and writes on the store (:mod:`cti.store.site_tables`).

Every function takes the synchronous :class:`~cti.store.Store`; :class:`~cti.site.service.SiteAdmin`
runs them on the store's threads. A batch (numbers, devices) is one transaction: all or nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from cti.errors import Conflict, NotFound, ValidationFailed
from cti.site.values import Letter, LocationInput, NumberInput
from cti.store import Store
from cti.store.models import agent_endpoints, agents
from cti.store.site_tables import site_devices, site_locations, site_numbers, site_progress

__all__ = [
    "DeviceRow",
    "NewDevice",
    "add_devices",
    "add_location",
    "add_numbers",
    "devices",
    "find_device",
    "insert_devices",
    "insert_location",
    "locations",
    "numbers",
    "progress",
    "remove_device",
    "set_letter",
    "set_progress",
]


@dataclass(frozen=True, slots=True)
class NewDevice:
    mac: str
    model: str
    username: str
    location: str
    sip_secret: str  # sealed
    provision_ha1: str


@dataclass(frozen=True, slots=True)
class DeviceRow:
    """A device with what its configuration file and endpoint need."""

    id: int
    mac: str
    model: str
    username: str
    display_name: str
    location: str
    callback: str
    sip_secret: str  # sealed
    provision_ha1: str
    extension: str = ""  # the agent's desk phone extension ("" when none)

    @property
    def endpoint(self) -> str:
        """The PJSIP endpoint, auth and AOR name of the device (``d`` + its MAC)."""
        return f"d{self.mac}"


def _location_id(conn: Connection, name: str, field: str) -> int:
    key = conn.execute(select(site_locations.c.id).where(site_locations.c.name == name)).scalar()
    if key is None:
        raise ValidationFailed(f"{field}: no location {name!r}", details={"field": field})
    return int(key)


def add_location(store: Store, value: LocationInput) -> int:
    with store.writing("site.add_location") as conn:
        return insert_location(conn, value, store.clock())


def insert_location(conn: Connection, value: LocationInput, now: datetime) -> int:
    """Add a location in the caller's transaction (Conflict if its name is taken)."""
    taken = select(site_locations.c.id).where(site_locations.c.name == value.name)
    if conn.execute(taken).first() is not None:
        raise Conflict("name: a location of that name exists", details={"field": "name"})
    statement = insert(site_locations).values(
        name=value.name,
        address=value.address,
        emergency=value.emergency,
        callback=value.callback,
        created_at=now,
    )
    return int(conn.execute(statement.returning(site_locations.c.id)).scalar_one())


def locations(store: Store) -> list[dict[str, Any]]:
    with store.reading("site.locations") as conn:
        counts: dict[int, int] = dict(
            conn.execute(
                select(site_devices.c.location_id, func.count()).group_by(
                    site_devices.c.location_id
                )
            ).all()
        )
        rows = conn.execute(select(site_locations).order_by(site_locations.c.name)).all()
    return [
        {
            "id": r.id,
            "name": r.name,
            "address": r.address,
            "emergency": r.emergency,
            "callback": r.callback,
            "devices": counts.get(r.id, 0),
        }
        for r in rows
    ]


def add_numbers(store: Store, values: Sequence[NumberInput]) -> None:
    """Add numbers in one transaction; a number already there (or twice in ``values``) refuses
    them all."""
    seen: set[str] = set()
    with store.writing("site.add_numbers") as conn:
        for index, value in enumerate(values):
            there = select(site_numbers.c.number).where(site_numbers.c.number == value.number)
            if value.number in seen or conn.execute(there).first() is not None:
                raise Conflict(
                    f"number: +{value.number} is already listed",
                    details={"field": "number", "row": index, "number": value.number},
                )
            seen.add(value.number)
            location = _location_id(conn, value.location, "location") if value.location else None
            conn.execute(
                insert(site_numbers).values(
                    number=value.number,
                    location_id=location,
                    status=value.status,
                    due_date=value.due_date,
                    reason=value.reason,
                    updated_at=store.clock(),
                )
            )


def set_letter(store: Store, number: str, letter: Letter) -> None:
    with store.writing("site.set_letter") as conn:
        row = conn.execute(select(site_numbers).where(site_numbers.c.number == number)).first()
        if row is None:
            raise NotFound("no such number", details={"number": number[:32]})
        if row.status != "porting":
            raise Conflict(
                "letter: only a number being ported takes a letter of authorisation",
                details={"field": "letter", "status": row.status},
            )
        conn.execute(
            update(site_numbers)
            .where(site_numbers.c.number == number)
            .values(
                loa=letter.data,
                loa_name=letter.name,
                loa_type=letter.media_type,
                updated_at=store.clock(),
            )
        )


def numbers(store: Store) -> list[dict[str, Any]]:
    query = (
        select(
            site_numbers.c.number,
            site_numbers.c.status,
            site_numbers.c.due_date,
            site_numbers.c.reason,
            site_numbers.c.loa_name,
            site_numbers.c.loa_type,
            func.length(site_numbers.c.loa).label("loa_bytes"),
            site_locations.c.name.label("location"),
        )
        .select_from(site_numbers.outerjoin(site_locations))
        .order_by(site_numbers.c.number)
    )
    with store.reading("site.numbers") as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def add_devices(store: Store, values: Sequence[NewDevice]) -> None:
    """Add devices in one transaction (their MACs and users were checked by the caller; the
    unique MAC is checked again here against a concurrent add)."""
    with store.writing("site.add_devices") as conn:
        insert_devices(conn, values, store.clock())


def insert_devices(conn: Connection, values: Sequence[NewDevice], now: datetime) -> None:
    """Add devices in the caller's transaction."""
    for index, value in enumerate(values):
        there = select(site_devices.c.id).where(site_devices.c.mac == value.mac)
        if conn.execute(there).first() is not None:
            raise Conflict(
                "mac: that device is already added",
                details={"field": "mac", "row": index, "mac": value.mac},
            )
        agent = conn.execute(select(agents.c.id).where(agents.c.username == value.username))
        agent_id = agent.scalar()
        if agent_id is None:
            raise ValidationFailed(
                f"user: no user {value.username!r}", details={"field": "user", "row": index}
            )
        conn.execute(
            insert(site_devices).values(
                mac=value.mac,
                model=value.model,
                agent_id=agent_id,
                location_id=_location_id(conn, value.location, "location"),
                sip_secret=value.sip_secret,
                provision_ha1=value.provision_ha1,
                created_at=now,
            )
        )


def _device_query() -> Any:
    return select(
        site_devices.c.id,
        site_devices.c.mac,
        site_devices.c.model,
        site_devices.c.sip_secret,
        site_devices.c.provision_ha1,
        site_devices.c.agent_id,
        agents.c.username,
        agents.c.display_name,
        site_locations.c.name.label("location"),
        site_locations.c.callback,
    ).select_from(site_devices.join(agents).join(site_locations))


def _extensions(conn: Connection, agent_id: int | None = None) -> dict[int, str]:
    """Each agent's (or one's) extension: the digits of its first ``PJSIP/<digits>`` phone."""
    found: dict[int, str] = {}
    query = select(agent_endpoints.c.agent_id, agent_endpoints.c.endpoint).order_by(
        agent_endpoints.c.id
    )
    if agent_id is not None:
        query = query.where(agent_endpoints.c.agent_id == agent_id)
    for owner, endpoint in conn.execute(query):
        tech, _, resource = endpoint.partition("/")
        if tech.upper() == "PJSIP" and resource.isdigit():
            found.setdefault(owner, resource)
    return found


def _device(row: Any, extensions: dict[int, str]) -> DeviceRow:
    return DeviceRow(
        id=row.id,
        mac=row.mac,
        model=row.model,
        username=row.username,
        display_name=row.display_name,
        location=row.location,
        callback=row.callback,
        sip_secret=row.sip_secret,
        provision_ha1=row.provision_ha1,
        extension=extensions.get(row.agent_id, ""),
    )


def devices(store: Store) -> list[DeviceRow]:
    with store.reading("site.devices") as conn:
        rows = conn.execute(_device_query().order_by(site_devices.c.mac)).all()
        extensions = _extensions(conn)
    return [_device(r, extensions) for r in rows]


def find_device(store: Store, mac: str) -> DeviceRow | None:
    with store.reading("site.find_device") as conn:
        row = conn.execute(_device_query().where(site_devices.c.mac == mac)).first()
        extensions = {} if row is None else _extensions(conn, row.agent_id)
    return None if row is None else _device(row, extensions)


def remove_device(store: Store, mac: str) -> None:
    with store.writing("site.remove_device") as conn:
        if not conn.execute(delete(site_devices).where(site_devices.c.mac == mac)).rowcount:
            raise NotFound("no such device", details={"mac": mac[:20]})


def progress(store: Store) -> str | None:
    with store.reading("site.progress") as conn:
        return conn.execute(select(site_progress.c.step).where(site_progress.c.id == 1)).scalar()


def set_progress(store: Store, step: str) -> None:
    with store.writing("site.set_progress") as conn:
        values = {"step": step, "updated_at": store.clock()}
        done = conn.execute(update(site_progress).where(site_progress.c.id == 1).values(values))
        if not done.rowcount:
            conn.execute(insert(site_progress).values(id=1, **values))
