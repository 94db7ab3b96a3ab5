"""Message-broker adapters for running several nodes (docs/scale-out.md).

Only this package imports a broker client; it implements the ports of :mod:`cti.cluster`
structurally and translates the client's errors into :class:`cti.errors.BrokerUnavailable`.
"""
