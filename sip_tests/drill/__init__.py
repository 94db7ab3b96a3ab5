"""Fault drills (``cti drill ...`` and ``tests/drills``): break something on purpose, print
what survived. Each drill returns its figures; the tests assert on what must hold (nothing
lost, nothing twice, no crash), never on how fast."""
