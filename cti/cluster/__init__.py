"""Several ``cti serve`` nodes behind one address: the ports a broker implements.

The single-process default uses :class:`LocalFanout` and no lease at all; a cluster
(``[cluster] broker_url``) gets the broker adapter's implementations (``broker_adapters``) from
the composition root. Nothing here imports a broker client.
"""

from cti.cluster.fanout import Fanout, FrameSink, LocalFanout, number_frame

__all__ = ["Fanout", "FrameSink", "LocalFanout", "number_frame"]
