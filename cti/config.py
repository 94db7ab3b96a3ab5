"""Configuration in one place: typed, layered (defaults < TOML < environment), loud on bad values.

Only the CLI builds a :class:`Settings` (:func:`load_settings`); everything else receives the part
it needs as an argument. Environment variables use the ``CTI_`` prefix and ``__`` between levels,
e.g. ``CTI_HTTP__PORT=9000`` or ``CTI_CRM__DEFAULT_REGION=US``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from crm_connectors.salesforce.config import SalesforceConfig
from cti.errors import ConfigError

__all__ = [
    "AmiServerSettings",
    "ClusterSettings",
    "CrmSettings",
    "DialSettings",
    "ExamplesSettings",
    "HttpSettings",
    "LabSettings",
    "OutboxSettings",
    "ProvisioningSettings",
    "RecordingSettings",
    "ReportSettings",
    "Settings",
    "StoreSettings",
    "TestCallSettings",
    "WebPhoneSettings",
    "load_settings",
    "repo_root",
]

Port = Annotated[int, Field(ge=1, le=65535)]


def repo_root() -> Path:
    """Return the source checkout this package runs from (holds asterisk-config/ and sip_tests/)."""
    return Path(__file__).resolve().parent.parent


class _Section(BaseModel):
    model_config = {"extra": "forbid", "frozen": True}


class LabSettings(_Section):
    """One lab Asterisk instance: where its root is cached and which loopback ports it uses."""

    instance: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,30}$")] = "dev"
    ami_port: Port = 5038
    ami_tls_port: Port = 5039  # AMI over TLS (manager.conf tlsbindaddr), the lab's own CA
    sip_port: Port = 5060
    trunk_host: str = "127.0.0.2"
    trunk_port: Port = 5080
    rtp_start: Port = 10000
    rtp_end: Port = 10999
    http_port: Port = 8088  # Asterisk's HTTP server: the browser phones' websocket (/ws)
    ami_username: str = "cti"
    ami_secret: SecretStr = SecretStr("cti-lab-secret")
    cache_dir: Path = Path("/var/cache/cti-lab")
    config_dir: Path = Field(default_factory=lambda: repo_root() / "asterisk-config")
    boot_timeout_s: float = 90.0
    debian_mirror: str | None = None  # None: the archive this machine's apt uses

    @field_validator("trunk_host")
    @classmethod
    def _loopback_only(cls, value: str) -> str:
        if not value.startswith("127."):
            raise ValueError("the lab trunk must be a loopback address (127.0.0.0/8)")
        return value


class AmiServerSettings(_Section):
    """An Asterisk server the daemon keeps one AMI session with."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,40}$")]
    host: str = "127.0.0.1"
    port: Port = 5038
    username: str = "cti"
    secret: SecretStr = SecretStr("cti-lab-secret")
    # AMI over TLS (manager.conf tlsenable): port is then Asterisk's tlsbindaddr port. The
    # certificate is verified against tls_ca_file (None: the system's trust store) with the host
    # name checked, unless tls_verify = false (a lab only: anyone on the path could answer).
    tls: bool = False
    tls_ca_file: Path | None = None
    tls_verify: bool = True
    reconnect_base_s: float = Field(default=0.5, gt=0)
    reconnect_cap_s: float = Field(default=15.0, gt=0)
    ping_interval_s: float = Field(default=10.0, gt=0)

    @model_validator(mode="after")
    def _tls_options_need_tls(self) -> Self:
        if not self.tls and (self.tls_ca_file is not None or not self.tls_verify):
            raise ValueError("tls_ca_file and tls_verify apply to AMI over TLS: set tls = true")
        return self


class ProvisioningSettings(_Section):
    """``[provisioning]``: the admin console's bulk provisioning and Asterisk configuration.

    The generated include files (pjsip_cti_agents.conf, queues_cti_members.conf,
    extensions_cti_dids.conf) are written to ``config_dir`` (the Asterisk host's /etc/asterisk,
    or a directory synced to it) and reloaded on ``server`` through the optional admin AMI
    credential, which also lists PJSIP trunks. Without it, configs are generated and diffed
    only, and trunks are known from ContactStatus events (docs/admin.md).
    """

    config_dir: Path | None = None
    server: str | None = None  # the AMI server (by name) the files and the admin user belong to
    admin_username: str | None = None  # manager.conf user with write = system, nothing else
    admin_secret: SecretStr | None = None
    sip_realm: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] = "asterisk"
    agent_context: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")] = "agents"
    endpoint_template: str | None = None  # e.g. "agent-endpoint": generated endpoints use it
    aor_template: str | None = None
    webrtc_template: str | None = None  # e.g. "webrtc-endpoint": generated browser phones use it
    extension_min: int = Field(default=1000, ge=0)
    extension_max: int = Field(default=9999, ge=0)
    trunk_poll_s: float = Field(default=30.0, gt=0)
    import_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    import_max_rows: int = Field(default=20_000, ge=1)
    # Numbers dialled as emergency calls, sent out on ``emergency_trunk`` (a PJSIP endpoint)
    # with the calling device's location callback number (cti.site); no trunk: not generated.
    emergency_numbers: tuple[Annotated[str, Field(pattern=r"^[0-9]{2,6}$")], ...] = (
        "911",
        "112",
        "999",
    )
    emergency_trunk: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] | None = None
    # Desk phones added by MAC fetch /provisioning/<file> (cti.site.phone_server): the SIP
    # server the file points them at (None: no file is served), the transport, whether plain
    # HTTP is refused (behind a TLS proxy, or with [http] tls_certfile), and the rate limits.
    phone_sip_host: Annotated[str, Field(pattern=r"^[A-Za-z0-9.:\[\]-]{1,253}$")] | None = None
    phone_sip_port: Port = 5060
    phone_sip_transport: Literal["udp", "tcp", "tls"] = "udp"
    phone_https_only: bool = False
    phone_fetches_per_minute: int = Field(default=30, ge=1)
    phone_failures_per_hour: int = Field(default=10, ge=1)


class ExamplesSettings(_Section):
    """``[examples]``: the example customer page ``/examples/call-us`` (docs/access-numbers.md).

    Its backend, standing in for a company's, calls the access-number API with ``call_us_key``
    (an API key the admin console issued); without a key the page says it is not set up.
    ``api_origin`` is where that backend reaches the API (None: the public origin, as a
    company's backend would).
    """

    call_us_key: SecretStr | None = None
    call_us_pool: str | None = None  # None: the key's only pool
    api_origin: Annotated[str, Field(pattern=r"^https?://[^/\s]+$")] | None = None


class HttpSettings(_Section):
    host: str = "127.0.0.1"
    port: Port = 8080
    public_origin: str = "http://127.0.0.1:8080"
    allowed_origins: tuple[str, ...] = ()
    session_secret: SecretStr | None = None
    secure_cookies: bool = False
    # Addresses or networks of reverse proxies whose X-Forwarded-For is believed (e.g.
    # ["127.0.0.1", "10.0.0.0/24"]); empty: the peer's address is the client's.
    trusted_proxies: tuple[str, ...] = ()
    # Host names requests may carry besides those of public_origin and allowed_origins (e.g.
    # "127.0.0.1" for a local health probe); any other Host header gets 400, so no redirect
    # or link is ever built from a host a client chose.
    trusted_hosts: tuple[str, ...] = ()
    # A session unused this long ends (an agent's open desktop socket counts as use); every
    # session ends session_max_age_s after login (docs/protocol.md, section 2).
    session_max_age_s: float = Field(default=12 * 3600.0, gt=0)
    agent_idle_s: float = Field(default=8 * 3600.0, gt=0)
    supervisor_idle_s: float = Field(default=30 * 60.0, gt=0)
    admin_idle_s: float = Field(default=30 * 60.0, gt=0)
    # Serve HTTPS directly (PEM files); without them, plain HTTP (e.g. behind a TLS proxy).
    tls_certfile: Path | None = None
    tls_keyfile: Path | None = None


class WebPhoneSettings(_Section):
    """``[webphone]``: the phone in the agent desktop (WebRTC, SIP over a websocket).

    The signed-in agent's page registers endpoint ``<ext>-webrtc`` (asterisk-config/pjsip.conf)
    with the desk phone's credentials, which the daemon hands only to that agent
    (``GET /api/phone/registration``): the HA1 digest the admin console stored for provisioned
    agents, or, with ``lab_passwords``, the lab's ``lab-<ext>``.
    """

    ws_url: str | None = None  # e.g. "wss://pbx.example.com:8089/ws"; None: no browser phone
    sip_domain: str | None = None  # the SIP URIs' host; None: the websocket URL's host
    lab_passwords: bool = False  # the lab's fixed secrets (lab-<ext>), for agents not provisioned

    @field_validator("ws_url")
    @classmethod
    def _websocket_url(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"wss?://[^\s/]+(/\S*)?", value):
            raise ValueError("a ws:// or wss:// URL, e.g. wss://pbx.example.com:8089/ws")
        return value


class TestCallSettings(_Section):
    """``[test_calls]``: "Ring me a test call" (agents) and "Simulate a call" (supervisors).

    A test call is an AMI Originate of ``Local/<target>@<context>``: its second half enters the
    dialplan as a carrier call to a DID (or to the agent's extension) would, and its first half,
    the caller, runs ``caller_context`` (asterisk-config/extensions.conf: an echo, ended after
    a time limit). Nothing reaches the trunk.
    """

    enabled: bool = True
    context: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,80}$")] = "cti-test-call"
    caller_context: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,80}$")] = "cti-test-caller"
    # Who "Ring me a test call" comes from (a number in your CRM makes a full pop).
    caller_number: Annotated[str, Field(pattern=r"^\+[1-9][0-9]{6,14}$")] = "+447700900123"
    caller_name: Annotated[str, Field(pattern=r"^[^\x00-\x1f\"\\<>]{0,40}$")] = "Test call"
    ring_timeout_s: float = Field(default=30.0, gt=0, le=300)
    max_per_window: int = Field(default=3, ge=1, le=100)  # test calls per user per window
    window_s: float = Field(default=30.0, gt=0, le=3600)


class OutboxSettings(_Section):
    """How the call-record writer retries: capped exponential backoff with jitter."""

    delivery_timeout_s: float = Field(default=30.0, gt=0)
    backoff_base_s: float = Field(default=2.0, gt=0)
    backoff_cap_s: float = Field(default=300.0, gt=0)
    jitter: float = Field(default=0.2, ge=0, lt=1)
    stuck_after: int = Field(default=5, ge=1)  # failed attempts before admins see it as stuck
    poll_interval_s: float = Field(default=5.0, gt=0)
    # While a connector fails, its oldest waiting record is tried this often; the first success
    # makes every other waiting record due at once (recovery does not wait out the backoff).
    probe_interval_s: float = Field(default=10.0, gt=0)
    batch_size: int = Field(default=50, ge=1)
    concurrency: int = Field(default=4, ge=1)
    # Records queued or coming due within this long of a first one are claimed, delivered and
    # marked together: at 100 calls/s, one round of outbox statements for several calls.
    gather_s: float = Field(default=0.05, ge=0, le=5)


class StoreSettings(_Section):
    url: str = "sqlite:////var/lib/cti/cti.sqlite3"  # four slashes: an absolute path
    pool_size: int = Field(default=4, ge=1, le=64)
    connect_timeout_s: float = Field(default=5.0, gt=0)
    outbox: OutboxSettings = OutboxSettings()


class CrmSettings(_Section):
    """Which CRM connectors run: the first looks callers up, every one receives call records."""

    connectors: Annotated[tuple[Literal["builtin", "salesforce"], ...], Field(min_length=1)] = (
        "builtin",
    )
    builtin_url: str | None = None  # None: the store's database
    default_region: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] = "GB"
    lookup_timeout_ms: int = Field(default=300, ge=10, le=30000)
    salesforce: SalesforceConfig | None = None  # the connector's own schema of its table

    @model_validator(mode="after")
    def _sections_present(self) -> Self:
        if len(set(self.connectors)) != len(self.connectors):
            raise ValueError("connectors lists a connector twice")
        if "salesforce" in self.connectors and self.salesforce is None:
            raise ValueError('connectors lists "salesforce": configure it in [crm.salesforce]')
        return self


class DialSettings(_Section):
    """``[dial]``: what agents may click-to-dial, how often, and where the call enters the dialplan.

    A number is dialled only as an internal extension (``internal_extension``) or as E.164,
    read in ``crm.default_region``; then ``blocked_prefixes`` refuse it, ``allowed_prefixes`` (when
    set) must admit it, and a number of another country needs ``allow_international``.
    """

    context: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,80}$")] = "cti-click-to-dial"
    # Where transferred callers go: its Dials must not give the caller DTMF transfer features.
    transfer_context: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,80}$")] = "cti-transfer"
    ring_timeout_s: float = Field(default=30.0, gt=0, le=300)  # how long the agent's phone rings
    internal_extension: str = r"[1-9][0-9]{3}"  # a regular expression, matched in full
    allow_international: bool = False
    allowed_prefixes: tuple[Annotated[str, Field(pattern=r"^\+[0-9]{1,14}$")], ...] = ()
    blocked_prefixes: tuple[Annotated[str, Field(pattern=r"^\+[0-9]{1,14}$")], ...] = (
        "+449",  # 09: premium rate
        "+4487",  # 087: service numbers
        "+4470",  # 070: personal numbers (often premium)
        "+44118",  # 118: directory enquiries
    )
    max_per_window: int = Field(default=5, ge=1, le=1000)  # dial requests per agent per window
    window_s: float = Field(default=30.0, gt=0, le=3600)

    @field_validator("internal_extension")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from exc
        return value


class RecordingSettings(_Section):
    """``[recording]``: where this host reads the call recordings Asterisk writes.

    Asterisk writes ``<id>.wav`` into its monitor spool directory (``astspooldir/monitor``);
    ``directory`` is that directory as this host sees it (the same path when the daemon runs on
    the PBX, a shared mount otherwise). The daemon plays files from it and deletes them after
    their group's retention; a missing or unwritable directory shows in the admin status.
    """

    directory: Path = Path("/var/spool/asterisk/monitor")
    sweep_every_s: float = Field(default=3600.0, gt=0)


class ReportSettings(_Section):
    """``[reports]``: the site's time zone and the thresholds figures are counted with.

    Changes apply to calls counted after them (the buckets hold counts, not calls).
    """

    time_zone: str = "UTC"  # IANA name: days, weeks and months of reports are the site's
    short_abandon_s: float = Field(default=5.0, ge=0, le=600)  # abandons under this: apart
    service_level_s: float = Field(default=20.0, gt=0, le=3600)  # answered within, by default
    queue_service_level_s: dict[str, float] = {}  # per queue
    # "process": the report API answers from a nice'd worker process (cti.reports.worker);
    # "inline": on the daemon's store threads, as one process with less memory
    worker: Literal["process", "inline"] = "process"

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("an IANA time zone such as Europe/London") from exc
        return value


class ClusterSettings(_Section):
    """Several nodes behind one address (docs/scale-out.md); no broker: one process, as ever."""

    # e.g. redis://127.0.0.1:6379/0 (docs/scale-out.md says why Redis)
    broker_url: Annotated[str, Field(pattern=r"^rediss?://")] | None = None
    # None: host name and process id
    node_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,40}$")] | None = None
    # every broker key and channel starts with it (tests run side by side)
    prefix: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,40}$")] = "cti"
    lease_ttl_s: float = Field(default=3.0, ge=0.5, le=60)  # an AMI owner's lease; renewed at 1/3
    replay_messages: int = Field(default=1000, ge=10, le=100_000)  # per agent, kept in the broker
    replay_seconds: float = Field(default=600.0, gt=0)
    request_timeout_s: float = Field(default=5.0, gt=0, le=60)  # click-to-dial via the owner


class OidcSettings(_Section):
    """Single sign-on through an OpenID Connect provider (cti.accounts.oidc); off without an
    issuer. The client secret comes from ``CTI_OIDC__CLIENT_SECRET`` or ``client_secret_file``."""

    issuer: Annotated[str, Field(pattern=r"^https?://")] | None = None
    client_id: str = ""
    client_secret: SecretStr | None = None
    client_secret_file: Path | None = None
    scopes: tuple[str, ...] = ("openid", "profile", "groups")
    username_claim: str = "preferred_username"
    groups_claim: str = "groups"
    roles: dict[str, Literal["agent", "supervisor", "admin"]] = {}  # provider group -> role
    button_label: str = "Sign in with single sign-on"
    # A signed-in user is checked at the provider (userinfo, else a token refresh) at most this
    # often: a user disabled there loses access at their first request after it.
    revalidate_s: float = Field(default=60.0, ge=0, le=3600)
    timeout_s: float = Field(default=10.0, gt=0, le=60)


class Settings(BaseSettings):
    """The whole configuration of one ``cti`` process."""

    model_config = SettingsConfigDict(
        env_prefix="CTI_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    servers: tuple[AmiServerSettings, ...] = (AmiServerSettings(name="lab"),)
    http: HttpSettings = HttpSettings()
    examples: ExamplesSettings = ExamplesSettings()
    store: StoreSettings = StoreSettings()
    crm: CrmSettings = CrmSettings()
    dial: DialSettings = DialSettings()
    reports: ReportSettings = ReportSettings()
    lab: LabSettings = LabSettings()
    provisioning: ProvisioningSettings = ProvisioningSettings()
    webphone: WebPhoneSettings = WebPhoneSettings()
    test_calls: TestCallSettings = TestCallSettings()
    recording: RecordingSettings = RecordingSettings()
    cluster: ClusterSettings = ClusterSettings()
    oidc: OidcSettings = OidcSettings()
    state_dir: Path = Path("/var/lib/cti")  # session secret, records a crash left unwritten
    log_format: Literal["json", "text"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = _CONFIG_FILE[0]
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)


# The file chosen by load_settings(); pydantic-settings asks for sources through a classmethod,
# so the choice is passed this way for the duration of one load only.
_CONFIG_FILE: list[Path | None] = [None]


def load_settings(config_file: Path | None = None, **overrides: object) -> Settings:
    """Build the settings from defaults, ``config_file`` (TOML) and the environment.

    Raises :class:`ConfigError` listing every bad value with where it came from.
    """
    if config_file is not None and not config_file.is_file():
        raise ConfigError(f"configuration file {config_file} does not exist")
    _CONFIG_FILE[0] = config_file
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}"
            for err in exc.errors()
        ]
        raise ConfigError(
            "invalid configuration:\n  " + "\n  ".join(problems),
            details={"problems": problems, "file": str(config_file) if config_file else None},
        ) from exc
    finally:
        _CONFIG_FILE[0] = None
