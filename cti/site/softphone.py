"""The documents a mobile softphone configures itself from (issue 16, part 4): Linphone's
remote-provisioning XML and a plain JSON for other softphones, each with the SIP account of the
agent's ``mobile`` device, where to register it (transport) and the codecs to offer.

Pure: the signup service (:mod:`cti.site.signup`) finds the device and opens its secret.
"""

from __future__ import annotations

import json
from typing import Literal

from cti.site.phone_files import CODECS, PhoneAccount, render_linphone
from cti.site.phone_server import PhoneServerSettings
from cti.site.records import DeviceRow

__all__ = ["DOCUMENTS", "DocumentKind", "mobile_account", "softphone_document"]

DocumentKind = Literal["linphone", "json"]
#: Each document's file name in its download URL, and its media type.
DOCUMENTS: dict[DocumentKind, tuple[str, str]] = {
    "linphone": ("linphone.xml", "application/xml; charset=utf-8"),
    "json": ("account.json", "application/json"),
}


def mobile_account(
    device: DeviceRow, password: str, phones: PhoneServerSettings, display_name: str
) -> PhoneAccount:
    """The SIP account of the agent's mobile device, registering where ``phones`` says."""
    assert phones.sip_host is not None
    return PhoneAccount(
        mac=device.mac,
        model="Mobile softphone",
        username=device.username,
        display_name=display_name or device.username,
        label=device.extension or device.username,
        sip_user=device.endpoint,
        auth_user=device.endpoint,
        password=password,
        server_host=phones.sip_host,
        server_port=phones.sip_port,
        transport=phones.transport,
    )


def softphone_document(kind: DocumentKind, account: PhoneAccount, realm: str) -> str:
    """The document of ``kind`` for ``account``: Linphone's ``lpconfig`` XML, or the JSON."""
    if kind == "linphone":
        return render_linphone(account, realm)
    plain = {
        "account": {
            "username": account.sip_user,
            "auth_username": account.auth_user,
            "password": account.password,
            "domain": account.server_host,
            "realm": realm,
            "display_name": account.display_name,
            "extension": account.label,
        },
        "transport": {
            "protocol": account.transport,
            "host": account.server_host,
            "port": account.server_port,
        },
        "codecs": [mime for mime, _ in CODECS],
    }
    return json.dumps(plain)
