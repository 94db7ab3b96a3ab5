"""The device models the wizard offers: common desk phones of several vendors, each with the
file names its phones request when they boot, plus the browser phone and the mobile softphone.

A desk phone asks its provisioning server for a file named after its MAC (Yealink and Fanvil
``<mac>.cfg``, Polycom ``<MAC>.cfg``, Grandstream ``cfg<mac>.xml``, Snom ``<MAC>.xml``); the
product answers with the model's jinja2 template in ``phone_templates/``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["MODELS", "DeviceModel", "model_for", "parse_file_name"]

Kind = Literal["desk", "browser", "mobile"]


@dataclass(frozen=True, slots=True)
class DeviceModel:
    key: str
    vendor: str
    name: str
    kind: Kind
    template: str | None = None  # phone_templates/<template>.j2 (desk phones)
    file_pattern: str | None = None  # regex with a group "mac" on the requested file name
    media_type: str = "text/plain; charset=utf-8"

    @property
    def needs_mac(self) -> bool:
        return self.kind == "desk"

    def as_dict(self) -> dict[str, str | bool]:
        return {"key": self.key, "vendor": self.vendor, "name": self.name, "kind": self.kind}


_HEX = "(?P<mac>[0-9a-fA-F]{12})"
_XML = "application/xml; charset=utf-8"

MODELS: tuple[DeviceModel, ...] = (
    DeviceModel("yealink-t54w", "Yealink", "T54W", "desk", "yealink", f"{_HEX}\\.cfg"),
    DeviceModel("yealink-t46u", "Yealink", "T46U", "desk", "yealink", f"{_HEX}\\.cfg"),
    DeviceModel("polycom-vvx450", "Poly", "VVX 450", "desk", "polycom", f"{_HEX}\\.cfg", _XML),
    DeviceModel(
        "grandstream-grp2614",
        "Grandstream",
        "GRP2614",
        "desk",
        "grandstream",
        f"cfg{_HEX}\\.xml",
        _XML,
    ),
    DeviceModel("snom-d785", "Snom", "D785", "desk", "snom", f"{_HEX}\\.xml", _XML),
    DeviceModel("fanvil-x6u", "Fanvil", "X6U", "desk", "fanvil", f"{_HEX}\\.cfg"),
    DeviceModel("browser", "CTI", "Browser phone", "browser"),
    DeviceModel("mobile", "CTI", "Mobile softphone", "mobile"),
)
_BY_KEY = {m.key: m for m in MODELS}


def model_for(key: str) -> DeviceModel | None:
    return _BY_KEY.get(key)


def parse_file_name(name: str) -> tuple[str, frozenset[str]] | None:
    """Return the MAC a requested file names and the models that request such a name."""
    found: set[str] = set()
    mac = None
    for model in MODELS:
        if model.file_pattern is None:
            continue
        match = re.fullmatch(model.file_pattern, name)
        if match is not None:
            mac = match["mac"].lower()
            found.add(model.key)
    return (mac, frozenset(found)) if mac is not None else None
