"""The missed-calls table lives with the store's tables (:mod:`cti.store.missed_call_tables`)."""

from cti.store.missed_call_tables import missed_calls

__all__ = ["missed_calls"]
