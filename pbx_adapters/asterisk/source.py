"""A live Asterisk as a source of normalized events, resynced after every login.

``AsteriskSource`` keeps one :class:`AmiConnection`, turns every frame into a
:mod:`cti.core.events` value and hands it to the sink, in wire order, synchronously (the sink must
not block: Asterisk drops an AMI reader that stalls). After each login it lists the live channels
(``CoreShowChannels``) and delivers them as one ``ChannelsListed`` event, so the tracker keeps the
calls that lived across a cut and closes the ones that vanished.

While the listing is in flight, events are held back and delivered after it: otherwise a channel
created just after Asterisk took the listing would look, to the tracker, like one that vanished.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from cti.core.events import ChannelsListed, PbxEvent
from cti.errors import AmiError, AmiProtocolError
from pbx_adapters.asterisk.commands import AsteriskCommands
from pbx_adapters.asterisk.connection import AmiConnection, AmiSettings
from pbx_adapters.asterisk.frame import AmiFrame
from pbx_adapters.asterisk.normalize import Normalizer

__all__ = ["AsteriskSource", "EventSink"]

EventSink = Callable[[PbxEvent], None]
log = logging.getLogger(__name__)


class AsteriskSource:
    """One named Asterisk server feeding ``sink`` with normalized events."""

    def __init__(
        self,
        name: str,
        settings: AmiSettings,
        sink: EventSink,
        *,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self._sink = sink
        self._wall = wall_clock
        self._normalizer = Normalizer(name)
        self._held: list[PbxEvent] | None = None
        self.resyncs = 0
        self.malformed = 0  # events dropped because a known event lacked what it must carry
        self.last_resync_seconds: float | None = None
        self.connection = AmiConnection(
            name, settings, self._on_frame, on_login=self._resync, on_disconnected=self._on_lost
        )
        self.commands = AsteriskCommands(self.connection)

    @property
    def ignored(self) -> int:
        return self._normalizer.ignored

    @property
    def rejected(self) -> int:
        return self._normalizer.rejected

    async def start(self) -> None:
        await self.connection.start()

    async def close(self) -> None:
        await self.connection.close()

    def _on_frame(self, frame: AmiFrame, received_at: float) -> None:
        del received_at  # monotonic; events carry Asterisk's own Timestamp (wall clock)
        try:
            event = self._normalizer.event(frame, self._wall())
        except AmiProtocolError as exc:
            self.malformed += 1
            if self.malformed & (self.malformed - 1) == 0:  # 1, 2, 4, 8...: no log flood
                log.warning(
                    "%s: dropped a malformed %s event (%d so far): %s",
                    self.name,
                    frame.name,
                    self.malformed,
                    exc,
                )
            return
        if event is None:
            return
        if self._held is not None:
            self._held.append(event)
        else:
            self._sink(event)

    async def _resync(self, connection: AmiConnection) -> None:
        """List the live channels right after login; reconcile before anything newer."""
        del connection
        started = time.monotonic()
        self._held = []
        count = 0
        try:
            frames = await self.commands.core_show_channels()
            listed = self._normalizer.listed_channels(frames)
            count = len(listed)
            self._sink(ChannelsListed(server=self.name, at=self._wall(), channels=tuple(listed)))
        except AmiError as exc:
            log.warning("%s: resync failed (%s); the next login retries it", self.name, exc)
        finally:
            held, self._held = self._held or [], None
            for event in held:
                self._sink(event)
        self.resyncs += 1
        self.last_resync_seconds = time.monotonic() - started
        log.info(
            "%s: resynced %d live channels in %.3f s", self.name, count, self.last_resync_seconds
        )

    def _on_lost(self, connection: AmiConnection, error: AmiError) -> None:
        del connection
        self._held = None
        log.warning("%s: AMI connection lost: %s", self.name, error)
