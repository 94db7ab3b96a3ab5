"""The lab: a real Asterisk 22 on loopback for development, demos and the test suite."""

from cti.lab.instance import LabInstance, LabStatus
from cti.lab.provision import AsteriskInstall, ensure_asterisk, find_asterisk

__all__ = ["AsteriskInstall", "LabInstance", "LabStatus", "ensure_asterisk", "find_asterisk"]
