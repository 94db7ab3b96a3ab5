"""Reports: queue, agent, DID and trunk figures by interval, counted as calls happen.

:mod:`~cti.reports.facts` (pure) decides facts from normalized events and call records;
:mod:`~cti.reports.buckets` (pure) counts them into 15-minute and day buckets;
:mod:`~cti.reports.recorder` writes the counts off the event loop; :mod:`~cti.reports.query`
validates a request and turns bucket rows into figures; :mod:`~cti.reports.service` checks who
may see what and reads the store.
"""
