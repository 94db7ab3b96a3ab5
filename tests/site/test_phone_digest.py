"""HTTP digest for phone files: a captured answer cannot be replayed (the nonce count of each
nonce must grow, in bounded memory, nonces stale after 5 minutes), and bare challenges are
audited at most once per address and minute, with the count of those left out."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import httpx

from cti.site.digest import DigestChecker, NonceCounts, parse_authorization
from cti.site.phone_server import ChallengeLog, PhoneServerSettings
from tests.site.test_phone_files import Provisioning, _provisioning

MAC = "001565000001"
FILE = f"/provisioning/{MAC}.cfg"


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def _answer(challenge: str, secret: str, nc: str, *, qop: bool = True) -> str:
    """The ``Authorization`` a phone sends for ``FILE`` (RFC 7616 3.4.1), built by hand."""
    fields = dict(re.findall(r'(\w+)="?([^",]+)"?', challenge.removeprefix("Digest ")))
    realm, nonce = fields["realm"], fields["nonce"]
    ha1, ha2 = _md5(f"{MAC}:{realm}:{secret}"), _md5(f"GET:{FILE}")
    common = f'Digest username="{MAC}", realm="{realm}", nonce="{nonce}", uri="{FILE}"'
    if not qop:
        return f'{common}, response="{_md5(f"{ha1}:{nonce}:{ha2}")}"'
    response = _md5(f"{ha1}:{nonce}:{nc}:0a4f113b:auth:{ha2}")
    return f'{common}, qop=auth, nc={nc}, cnonce="0a4f113b", response="{response}"'


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# ------------------------------------------------------------------------------------ pure
def test_a_nonce_count_must_grow_and_a_count_free_answer_uses_its_nonce_once() -> None:
    clock = Clock()
    checker = DigestChecker("r", clock=clock)
    nonce = re.findall(r'nonce="([^"]+)"', checker.challenge())[0]

    def answer(nc: str | None, qop: str | None = "auth") -> bool:
        header = f'Digest username="u", realm="r", nonce="{nonce}", uri="/f", response="x"'
        if qop:
            header += f', qop={qop}, nc={nc}, cnonce="c"'
        parsed = parse_authorization(header)
        assert parsed is not None
        return checker.count_fresh(parsed)

    assert answer("00000001") and answer("00000003")  # a phone may skip counts
    assert not answer("00000003") and not answer("00000002")  # replays, or going back
    assert not answer("0000000z") and not answer("1")  # not 8 hex digits
    other = re.findall(r'nonce="([^"]+)"', checker.challenge())[0]
    nonce = other
    assert answer(None, qop=None) and not answer(None, qop=None)  # RFC 2069: once


def test_nonces_are_forgotten_when_stale_and_memory_is_bounded() -> None:
    counts = NonceCounts(ttl_s=300.0, max_nonces=3)
    for n in range(3):
        assert counts.accept(f"n{n}", issued=float(n), count=1, now=10.0)
    assert len(counts) == 3 and counts.floor == float("-inf")
    assert counts.accept("n3", issued=3.0, count=1, now=11.0)  # n0 is dropped ...
    assert len(counts) == 3 and counts.floor == 0.0
    assert not counts.accept("n0", issued=0.0, count=2, now=11.0)  # ... and can never return
    assert counts.accept("n1", issued=1.0, count=2, now=11.0)  # newer ones carry on
    assert counts.accept("late", issued=400.0, count=1, now=400.0)  # n1..n3 expired (300 s)
    assert len(counts) == 1


def test_a_nonce_older_than_the_floor_is_stale() -> None:
    clock = Clock()
    checker = DigestChecker("r", clock=clock)
    nonce = re.findall(r'nonce="([^"]+)"', checker.challenge())[0]
    assert checker.nonce_fresh(nonce)
    clock.now += 301
    assert not checker.nonce_fresh(nonce) and checker.nonce_ours(nonce)  # 5 minutes: stale


def test_challenges_are_counted_per_address_and_minute() -> None:
    clock = Clock()
    log = ChallengeLog(clock)
    assert log.challenged("10.0.0.1") == 0
    assert [log.challenged("10.0.0.1") for _ in range(5)] == [None] * 5
    assert log.challenged("10.0.0.2") == 0  # each address on its own
    clock.now += 60
    assert log.challenged("10.0.0.1") == 5


# ------------------------------------------------------------------------------- over HTTP
async def test_a_captured_answer_is_refused_when_replayed(tmp_path: Path) -> None:
    async for prov in _provisioning(tmp_path, PhoneServerSettings("pbx")):
        secret = prov.secrets[MAC]
        challenge = (await prov.client.get(FILE)).headers["www-authenticate"]
        first = _answer(challenge, secret, "00000001")
        served = await prov.client.get(FILE, headers={"Authorization": first})
        assert served.status_code == 200 and "account.1.password" in served.text
        replayed = await prov.client.get(FILE, headers={"Authorization": first})
        assert replayed.status_code == 401 and "account.1" not in replayed.text
        assert "stale=true" in replayed.headers["www-authenticate"]
        (refusal,) = _refused(prov)
        assert (refusal["reason"], refusal["mac"]) == ("replayed", MAC)
        following = _answer(challenge, secret, "00000002")  # the phone's next request
        assert (await prov.client.get(FILE, headers={"Authorization": following})).is_success
        fresh = (await prov.client.get(FILE)).headers["www-authenticate"]
        old_style = _answer(fresh, secret, "", qop=False)  # RFC 2069: its nonce serves once
        assert (await prov.client.get(FILE, headers={"Authorization": old_style})).is_success
        again = await prov.client.get(FILE, headers={"Authorization": old_style})
        assert again.status_code == 401
        assert [r["reason"] for r in _refused(prov)] == ["replayed", "replayed"]


async def test_httpx_digest_keeps_working_request_after_request(tmp_path: Path) -> None:
    """A real client counts its requests on one nonce (nc 1, 2, 3): each is served."""
    async for prov in _provisioning(tmp_path, PhoneServerSettings("pbx")):
        auth = httpx.DigestAuth(MAC, prov.secrets[MAC])
        for _ in range(3):
            assert (await prov.client.get(FILE, auth=auth)).status_code == 200
        assert _refused(prov) == []


async def test_bare_challenges_are_audited_once_per_address_and_minute(tmp_path: Path) -> None:
    clock = Clock()
    settings = PhoneServerSettings("pbx", fetches_per_minute=1000)
    async for prov in _provisioning(tmp_path, settings, clock):
        for _ in range(20):
            assert (await prov.client.get(FILE)).status_code == 401
        assert [e["earlier"] for e in _challenged(prov)] == [0]
        clock.now += 61
        assert (await prov.client.get(FILE)).status_code == 401
        rows = _challenged(prov)
        assert [e["earlier"] for e in rows] == [0, 19]
        assert rows[-1] == {"file": f"{MAC}.cfg", "client": "127.0.0.1", "mac": MAC, "earlier": 19}


def _refused(prov: Provisioning) -> list[dict[str, object]]:
    return prov.refused()


def _challenged(prov: Provisioning) -> list[dict[str, object]]:
    return [d for kind, d, _ in prov.audit.events if kind == "site.phone_file_challenged"]
