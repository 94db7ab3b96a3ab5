"""Shared fixtures: the lab Asterisk once per session, agent phones, SIPp calls.

The lab is the test suite's own instance (sip_tests.lab.TEST_LAB, other ports than a developer's
`cti lab up`), brought up on first use and stopped at the end if this session started it. A test
that needs it and cannot get it fails with the lab's own message: it is never skipped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg import sql

from sip_tests.lab import LabHandle, lab_settings_for, start_lab
from sip_tests.phone import Manual, Phone, PhoneFleet
from sip_tests.sipp import SippProcess, cleanup_workdirs


@pytest.fixture(scope="session")
def lab() -> Iterator[LabHandle]:
    # Parallel test sessions on one machine (several developers, CI) each take an instance of
    # their own: CTI_TEST_LAB_OFFSET=100, 200, ... moves every port.
    handle = start_lab(lab_settings_for(int(os.environ.get("CTI_TEST_LAB_OFFSET", "0"))))
    yield handle
    if handle.started_here:
        handle.instance.stop()


@pytest.fixture(scope="session")
def fleet(lab: LabHandle) -> Iterator[PhoneFleet]:
    """One pjsua2 endpoint for the whole session (pjsua2 allows one per process)."""
    with PhoneFleet() as phone_fleet:
        yield phone_fleet


@pytest.fixture
def phones(lab: LabHandle, fleet: PhoneFleet) -> Iterator[Callable[..., dict[str, Phone]]]:
    """Return registered agent phones by extension, fresh for this test (manual answer)."""

    def get(*extensions: str) -> dict[str, Phone]:
        got = {}
        existing = {p.extension: p for p in fleet.phones}
        for ext in extensions:
            phone = existing.get(ext)
            if phone is None:
                phone = fleet.phone(ext, lab.password(ext), lab.registrar)
                phone.wait_registered(10)
            else:  # a drill's SIPp phones may have cleared its binding since (Contact: *)
                phone.reregister(10)
            phone.reset()
            phone.set_answer_policy(Manual())
            got[ext] = phone
        return got

    lab.ensure_idle(30)
    yield get
    for phone in fleet.phones:
        phone.hangup_all()
        # A later test that does not ask for phones must not meet one that still answers
        # (the session's 1001 answering in 0.5 s took a later test's call away from its phone).
        phone.set_answer_policy(Manual())
    try:
        lab.wait_idle(15)
    finally:
        lab.hangup_all()


@pytest.fixture
def sipp_calls() -> Iterator[list[SippProcess]]:
    """Collect the SIPp processes a test starts; they are stopped and cleaned up after it."""
    started: list[SippProcess] = []
    yield started
    for proc in started:
        proc.stop()
    cleanup_workdirs(started)


# ------------------------------------------------------------------------------- databases
# A fresh PostgreSQL database per test, on the loopback server (user postgres, trust auth).
# Tests needing it are marked ``postgres`` and skipped, with the reason, when it is not there.
PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
PG_ADMIN_DSN = f"host={PG_HOST} port={PG_PORT} user={PG_USER} dbname=postgres connect_timeout=3"


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """Return the admin DSN, or skip when PostgreSQL is not reachable."""
    try:
        with psycopg.connect(PG_ADMIN_DSN) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        pytest.skip(f"PostgreSQL not reachable on {PG_HOST}:{PG_PORT} as {PG_USER}: {exc}")
    return PG_ADMIN_DSN


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """Create a uniquely named database, yield its URL, drop it (even if still connected)."""
    name = f"cti_test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
