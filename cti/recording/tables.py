"""The recording tables live with the store's other tables (:mod:`cti.store.recording_tables`)."""

from cti.store.recording_tables import recording_policies, recordings

__all__ = ["recording_policies", "recordings"]
