"""permessage-deflate for thousands of mostly idle agent sockets (RFC 7692).

python-websockets' extension, negotiated without context takeover (section 7.1.1), builds a
compressor (~40 KiB of zlib state, part of it cleared) for every message it sends, however
short. Messages too short to gain (``call_state``, ``pop_dismissed``, ``pong``: about 100
bytes) go uncompressed here, which section 6 allows per message (RSV1 clear): no compressor,
no ~20 us of CPU, and no zlib allocations churning the heap between Python's. Pops, the big
frames, are compressed as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from websockets.extensions.permessage_deflate import (
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import CTRL_OPCODES, Frame, Opcode
from websockets.typing import ExtensionParameter

__all__ = ["MIN_COMPRESSED_BYTES", "LeanDeflate", "LeanDeflateFactory"]

# Below this, deflate saves a few bytes at best and costs a compressor (~40 KiB of zlib state
# allocated and partly cleared) and ~20 us per message.
MIN_COMPRESSED_BYTES = 256


class LeanDeflate(PerMessageDeflate):
    """Compress only the messages worth compressing."""

    def encode(self, frame: Frame) -> Frame:
        if frame.opcode in CTRL_OPCODES:
            return frame
        if frame.opcode is not Opcode.CONT and frame.fin and len(frame.data) < MIN_COMPRESSED_BYTES:
            return frame  # a whole short message, sent as is (RSV1 clear)
        return super().encode(frame)


class LeanDeflateFactory(ServerPerMessageDeflateFactory):
    """The server side of the negotiation, handing out :class:`LeanDeflate`."""

    def process_request_params(
        self, params: Sequence[ExtensionParameter], accepted_extensions: Sequence[Any]
    ) -> tuple[list[ExtensionParameter], PerMessageDeflate]:
        response, agreed = super().process_request_params(params, accepted_extensions)
        return response, LeanDeflate(
            agreed.remote_no_context_takeover,
            agreed.local_no_context_takeover,
            agreed.remote_max_window_bits,
            agreed.local_max_window_bits,
            agreed.compress_settings,
        )
