"""A RecordingService on a migrated SQLite store, fed by the call tracker over recorded lab
transcripts, with a fake PBX and notifier that keep what they are handed (no mocks).

The fake PBX keeps the globals the service publishes and plays the ``cti-record`` gosub's part
(:meth:`FakePbx.records`, the same choice as asterisk-config/extensions.conf): where the
transcript's agent leg answers (``DialEnd`` ANSWER) and the globals say the group records, the
replay inserts that leg's ``MixMonitorStart``, as Asterisk sends it (the channel's snapshot).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cti.core.tracker import CallTracker
from cti.core.updates import CallUpdate
from cti.errors import AmiError
from cti.pop.directory import Directory, GroupConfig
from cti.recording import RecordingService
from cti.recording.dialplan import GENERATION_VARIABLE, RECORD_PREFIX, policy_in
from cti.store import Store
from cti.store.migrations import upgrade
from pbx_adapters.asterisk.frame import AmiFrame
from pbx_adapters.asterisk.normalize import Normalizer
from tests.transcript import frames, is_agent

__all__ = ["DIRECTORY", "FakePbx", "Harness", "Told", "harness"]

DIRECTORY = Directory(
    endpoint_owners={"PJSIP/1001": ("alice",), "PJSIP/1002": ("bob",)},
    groups={"Sales": GroupConfig("Sales"), "Support": GroupConfig("Support")},
    agent_groups={"alice": ("Sales",), "bob": ("Sales",)},
    queue_groups={"sales": "Sales", "support": "Support"},
)


class FakePbx:
    """The AMI actions recording sends, kept in order."""

    def __init__(self) -> None:
        self.sent: list[tuple[object, ...]] = []
        self.globals: dict[str, str] = {}
        self.down = False  # AMI not connected: every action fails as the adapter's would

    def records(self, did: str, route: str, trunk: str, endpoint: str) -> bool:
        """Whether the cti-record gosub starts MixMonitor on an answered leg of ``endpoint``
        (PJSIP/1001) of a call with these CTI_DID, CTI_ROUTE and CTI_TRUNK."""

        def key(text: str) -> str:
            return "".join(c for c in text if c.isascii() and (c.isalnum() or c == "_"))

        name = endpoint.rpartition("/")[2].removesuffix("-webrtc")
        generation = self.globals.get(GENERATION_VARIABLE, "")
        for kind, value in (("D", did), ("Q", route), ("T", trunk), ("A", name)):
            stamped = self.globals.get(f"{RECORD_PREFIX}{kind}_{key(value)}", "")
            if mode := policy_in(stamped, generation):
                return mode in ("always", "demand")
        return False

    async def set_variable(self, channel: str, name: str, value: str) -> object:
        self.sent.append(("setvar", channel, name, value))
        return None

    async def set_global(self, name: str, value: str) -> object:
        if self.down:
            raise AmiError(f"AMI lab is not connected; Setvar was not sent ({name})")
        self.sent.append(("global", name, value))
        self.globals[name] = value
        return None

    async def mute_recording(self, channel: str, muted: bool) -> object:
        self.sent.append(("mute", channel, muted))
        return None


class Told:
    """The agent desktop's side of RecordingNotifier: the frames' data, per agent."""

    def __init__(self) -> None:
        self.got: list[tuple[str, dict[str, object]]] = []

    def recording(self, agent: str, data: Mapping[str, object]) -> None:
        self.got.append((agent, dict(data)))


@dataclass
class Harness:
    service: RecordingService
    store: Store
    tracker: CallTracker
    pbx: FakePbx
    told: Told
    audited: list[tuple[str, dict[str, object], str]] = field(default_factory=list)

    def replay(self, name: str, *also: Callable[[CallUpdate], None]) -> list[CallUpdate]:
        """Feed transcript ``name`` event by event, as the daemon's read path does (the
        tracker, then ``also`` (e.g. the pop service), then the recording service)."""
        normalizer, seen = Normalizer("lab"), []
        for frame in frames(name):
            for each in (frame, *self._recorded(frame)):
                event = normalizer.event(each, 0.0)
                if event is None:
                    continue
                updates = self.tracker.feed(event)
                for handle in also:
                    for update in updates:
                        handle(update)
                self.service.observe(event, updates)
                seen += updates
        return seen

    def _recorded(self, frame: AmiFrame) -> list[AmiFrame]:
        """The ``MixMonitorStart`` the gosub causes after ``frame``, if any."""
        fields = dict(frame)
        if fields.get("Event") != "DialEnd" or fields.get("DialStatus") != "ANSWER":
            return []
        leg = [(k[4:], v) for k, v in frame if k.startswith("Dest") and k != "DialStatus"]
        variables = dict(v.split("=", 1) for k, v in leg if k == "ChanVariable")
        endpoint = dict(leg)["Channel"].rsplit("-", 1)[0]
        call = self.tracker.call_of_channel("lab", dict(leg)["Uniqueid"])
        route = call.queue or "" if call is not None else ""
        did, trunk = variables.get("CTI_DID", ""), variables.get("CTI_TRUNK", "")
        if not is_agent(endpoint) or not self.pbx.records(did, route, trunk, endpoint):
            return []
        return [AmiFrame((("Event", "MixMonitorStart"), ("Privilege", "call,all"), *leg))]


def harness(tmp_path: Path, *, supervisors: tuple[str, ...] = ("sam",)) -> Harness:
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    upgrade(url)
    store = Store(url)
    tracker, pbx, told = CallTracker(is_agent), FakePbx(), Told()
    files = tmp_path / "monitor"
    files.mkdir(exist_ok=True)
    audited: list[tuple[str, dict[str, object], str]] = []

    async def audit(kind: str, data: Mapping[str, object], who: str) -> None:
        audited.append((kind, dict(data), who))

    async def supervisors_of(group: str) -> tuple[str, ...]:
        return supervisors if group == "Sales" else ()

    service = RecordingService(
        store=store,
        calls=tracker,
        servers={"lab": pbx},
        directory=lambda: DIRECTORY,
        supervisors_of=supervisors_of,
        audit=audit,
        files=files,
        notifier=told,
        link_base="https://cti.example.com/",
    )
    return Harness(service, store, tracker, pbx, told, audited)
