"""Undo the C-style escaping Asterisk applies to some AMI header values.

Since Asterisk 13.5 (ASTERISK-24934, commit 53c1126) AMI escapes, with ``ast_escape_c_alloc``
(main/utils.c), the values that may hold arbitrary text. In Asterisk 22 those are:

* ``CallerIDName`` and ``ConnectedLineName`` of every channel snapshot, under every prefix
  (``ast_manager_build_channel_state_string_prefix``, main/manager_channels.c), so also in
  ``CoreShowChannel`` (main/manager.c, ``action_coreshowchannels``);
* the value of every ``ChanVariable: name=value`` line of a snapshot (same function);
* ``Value`` of ``VarSet`` (main/stasis_channels.c), ``Subtype`` and ``Message`` of
  ``PresenceStateChange`` (main/presencestate.c) and ``CID-CallingPres`` of ``NewCallerid``.

Every other header (``CallerIDNum``, ``Exten``, ``DialString`` ...) goes out as it is. The
escape table is ``escape_sequences`` / ``escape_sequences_map`` of main/utils.c: BEL, BS, FF,
LF, CR, TAB, VT, backslash, single and double quote and ``?`` become ``\\a \\b \\f \\n \\r \\t
\\v \\\\ \\' \\" \\?``. :func:`unescape_c` is its exact inverse; a backslash that starts none of
these sequences cannot come from Asterisk and raises :class:`AmiProtocolError`.
"""

from __future__ import annotations

import re

from cti.errors import AmiProtocolError

__all__ = ["unescape_c"]

# main/utils.c escape_sequences_map -> escape_sequences.
_SEQUENCES = {
    "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
    "\\": "\\", "'": "'", '"': '"', "?": "?",
}  # fmt: skip
_ESCAPE = re.compile(r"\\(.?)", re.DOTALL)


def unescape_c(value: str, header: str) -> str:
    """Return ``value`` of AMI header ``header`` with Asterisk's ``ast_escape_c`` undone.

    Call it once per value, on exactly the headers listed in the module docstring: applied
    twice, or to a header Asterisk sends as is, it would eat backslashes a caller really sent.
    """
    if "\\" not in value:
        return value

    def one(match: re.Match[str]) -> str:
        char = match.group(1)
        try:
            return _SEQUENCES[char]
        except KeyError:
            raise AmiProtocolError(
                f"{header} holds a backslash Asterisk would have escaped",
                details={"header": header, "sequence": "\\" + char},
            ) from None

    return _ESCAPE.sub(one, value)
