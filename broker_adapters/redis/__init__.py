"""Redis as the cluster's broker: pub/sub for fan-out, a Stream per agent for replay, leases."""

from broker_adapters.redis.client import BrokerKeys, connect
from broker_adapters.redis.fanout import RedisFanout

__all__ = ["BrokerKeys", "RedisFanout", "connect"]
