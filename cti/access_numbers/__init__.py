"""Access numbers: a company's app asks for a number, the customer calls it, the agent sees why.

A company's backend reserves a DID from a pool for one customer (:mod:`.service`); the call
arriving on that DID from that caller is matched to the reservation (:mod:`.index`, on the read
path) and its context goes into the pop and the call record. The tables are in :mod:`.tables`
(created by the store's migrations), the SQL in :mod:`.rows`.

Nothing is imported here: the store's migrations import :mod:`.tables`, and the store must not
pull in the service (which uses the store).
"""
