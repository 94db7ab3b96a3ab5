"""The Asterisk AMI adapter: frames out, actions in.

Modules, from the wire up:

* :mod:`.frame` - :class:`AmiFrame`, one message as ordered ``(key, value)`` pairs;
* :mod:`.framer` - the sans-IO framer (bytes in, frames out);
* :mod:`.action` - action encoding, refusing header injection;
* :mod:`.correlation` - sans-IO matching of responses to actions by ``ActionID``;
* :mod:`.lifecycle` - settings, the connection state table, backoff, counters;
* :mod:`.link` - one TCP connection's actions in flight;
* :mod:`.connection` - :class:`AmiConnection`, the only module that imports panoramisk;
* :mod:`.commands` - typed call-control commands.

Nothing is re-exported here, so importing the pure modules (frame, framer, correlation) does
not import asyncio code or panoramisk.
"""
