"""Render a desk phone's configuration file from its model's jinja2 template
(``phone_templates/<template>.<cfg|xml>.j2``).

The templates run in jinja2's immutable sandbox (they are product files, but the values in them
are what admins and imports typed). Escaping follows the format: XML templates autoescape
(``& < > " '`` as entities, valid in XML text and attributes); the ``key = value`` formats
(Yealink, Fanvil) cannot escape, so every value is checked to hold no control character (a
newline would start a key of its own) before it reaches the template, and the environment's
``finalize`` drops any that slipped through.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from importlib.resources import files
from typing import Literal

from jinja2 import BaseLoader, StrictUndefined, TemplateNotFound
from jinja2.sandbox import ImmutableSandboxedEnvironment

from cti.errors import ValidationFailed
from cti.site.catalog import DeviceModel

__all__ = ["CODECS", "PhoneAccount", "render_linphone", "render_phone_file"]

Transport = Literal["udp", "tcp", "tls"]
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class PhoneAccount:
    """What a phone's file carries: its SIP account and where to register it."""

    mac: str
    model: str  # the model's name ("Yealink T54W")
    username: str  # the agent's
    display_name: str
    label: str  # shown on the line key: the agent's extension
    sip_user: str
    auth_user: str
    password: str
    server_host: str
    server_port: int
    transport: Transport

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if isinstance(value, str) and _CONTROL.search(value):
                raise ValidationFailed(
                    f"{name}: holds a control character", details={"field": name}
                )


class _Templates(BaseLoader):
    """Load ``phone_templates/<name>`` from the package (installed or not)."""

    def get_source(self, environment: object, template: str) -> tuple[str, str | None, None]:
        path = files("cti.site").joinpath("phone_templates", template)
        if "/" in template or not path.is_file():
            raise TemplateNotFound(template)
        return path.read_text(encoding="utf-8"), None, None


def _no_control(value: object) -> object:
    return _CONTROL.sub("", value) if isinstance(value, str) else value


def _environment(xml: bool) -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(
        loader=_Templates(),
        autoescape=xml,
        undefined=StrictUndefined,
        finalize=None if xml else _no_control,
        keep_trailing_newline=True,
        auto_reload=False,
    )


_XML = _environment(xml=True)
_CFG = _environment(xml=False)


def render_phone_file(model: DeviceModel, account: PhoneAccount) -> str:
    """Return the configuration file of ``account`` as phones of ``model`` read it."""
    if model.template is None or model.file_pattern is None:
        raise ValidationFailed("model: this model fetches no file", details={"field": "model"})
    xml = model.file_pattern.endswith("xml") or model.media_type.startswith("application/xml")
    name = f"{model.template}.{'xml' if xml else 'cfg'}.j2"
    return (_XML if xml else _CFG).get_template(name).render(asdict(account))


def render_linphone(account: PhoneAccount, realm: str) -> str:
    """Linphone's remote provisioning document (its ``lpconfig`` XML) for ``account``."""
    codecs = [{"mime": mime, "rate": 8000} for mime, _ in CODECS]
    values = {**asdict(account), "realm": realm, "codecs": codecs}
    return _XML.get_template("linphone.xml.j2").render(values)


#: The codecs the softphones are given (the lab's and generated endpoints allow ulaw, alaw).
CODECS: tuple[tuple[str, str], ...] = (("PCMU", "ulaw"), ("PCMA", "alaw"))
