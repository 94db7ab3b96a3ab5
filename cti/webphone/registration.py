"""Hand the signed-in agent the registration of their own browser phone, and no one else's.

The browser phone of agent endpoint ``PJSIP/1001`` is PJSIP endpoint ``1001-webrtc``
(asterisk-config/pjsip.conf, and the files the admin console generates). It authenticates with
the desk phone's credentials (``auth = 1001``), so nothing new is stored:

* a provisioned agent (admin console) has the HA1 digest the console stored
  (``agent_profiles.sip_digest``, ``MD5:`` + MD5 of ``ext:realm:secret``). The page gets that
  digest and the realm, never a password (JsSIP's ``ha1`` option answers the challenge
  with it); it is worth the SIP secret to whoever holds it, so only its own agent gets it, on
  an authenticated, uncached response;
* an agent on the lab's fixed phones (not provisioned) gets ``lab-<ext>`` when
  ``[webphone] lab_passwords`` is on (the demo and the tests); otherwise none: the page says
  the browser phone is not set up for them, and pops keep arriving.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import select

from cti.config import WebPhoneSettings
from cti.core.events import WEBRTC_SUFFIX
from cti.errors import CtiError, NotFound
from cti.store import Store
from cti.store.models import agent_profiles, agents

__all__ = ["PhoneNotSetUp", "PhoneRegistration", "WebPhones", "registration_for"]

_PREFIX = "PJSIP/"


class PhoneNotSetUp(CtiError):
    """The agent has no browser phone: none configured, no extension, or no credential."""

    error_id = "phone.not_set_up"
    status = 404


@dataclass(frozen=True, slots=True)
class PhoneRegistration:
    """What a page needs to register the agent's browser phone (JSON for the page)."""

    ws_url: str
    uri: str  # sip:1001-webrtc@host
    authorization_user: str  # the desk phone's auth username: 1001
    extension: str
    display_name: str
    realm: str
    password: str | None  # the lab's fixed secret, or None
    ha1: str | None  # MD5(user:realm:secret) in hex, for provisioned agents

    def as_dict(self) -> dict[str, object]:
        return {
            "ws_url": self.ws_url,
            "uri": self.uri,
            "authorization_user": self.authorization_user,
            "extension": self.extension,
            "display_name": self.display_name,
            "realm": self.realm,
            "password": self.password,
            "ha1": self.ha1,
        }


def registration_for(
    store: Store, settings: WebPhoneSettings, realm: str, username: str
) -> PhoneRegistration:
    """Return ``username``'s browser phone registration; raise PhoneNotSetUp with the reason."""
    if settings.ws_url is None:
        raise PhoneNotSetUp("no browser phone on this site ([webphone] ws_url is not set)")
    with store.reading("webphone.registration") as conn:
        agent = conn.execute(select(agents).where(agents.c.username == username)).first()
        if agent is None or not agent.active:
            raise NotFound("no such agent", details={"agent": username})
        profile = conn.execute(
            select(agent_profiles).where(agent_profiles.c.agent_id == agent.id)
        ).first()
    extension = profile.extension if profile is not None else _lab_extension(store, username)
    if extension is None:
        raise PhoneNotSetUp("you have no phone extension; ask your PBX admin for one")
    digest = profile.sip_digest if profile is not None else None
    password = None
    if digest is None and settings.lab_passwords:
        password = f"lab-{extension}"
    if digest is None and password is None:
        raise PhoneNotSetUp("your extension has no SIP secret yet; ask your PBX admin to set one")
    domain = settings.sip_domain or urlsplit(settings.ws_url).hostname or "localhost"
    return PhoneRegistration(
        ws_url=settings.ws_url,
        uri=f"sip:{extension}{WEBRTC_SUFFIX}@{domain}",
        authorization_user=extension,
        extension=extension,
        display_name=agent.display_name,
        realm=realm,
        password=password,
        ha1=digest.removeprefix("MD5:") if digest else None,
    )


def _lab_extension(store: Store, username: str) -> str | None:
    """The extension of the agent's first ``PJSIP/<digits>`` endpoint (the lab's phones)."""
    for info in store.agents():
        if info.username != username:
            continue
        for phone in info.endpoints:
            extension = phone.endpoint.removeprefix(_PREFIX)
            if phone.endpoint.startswith(_PREFIX) and extension.isdigit():
                return extension
    return None


class WebPhones:
    """The browser phones of one site: the root builds it from the settings."""

    def __init__(self, store: Store, settings: WebPhoneSettings, realm: str) -> None:
        self._store, self._settings, self._realm = store, settings, realm

    @property
    def ws_url(self) -> str | None:
        return self._settings.ws_url

    async def registration(self, username: str) -> PhoneRegistration:
        """``username``'s own registration (the caller has checked who is asking)."""
        return await self._store.aio.run(
            registration_for, self._store, self._settings, self._realm, username
        )
