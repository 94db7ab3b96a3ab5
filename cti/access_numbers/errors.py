"""The access-number errors (in the product's one tree, rooted at CtiError)."""

from __future__ import annotations

from cti.errors import AuthenticationRequired, CtiError, PermissionDenied

__all__ = ["KeyRejected", "OutOfScope", "PoolExhausted"]


class PoolExhausted(CtiError):
    """Every number of the pool is held; ``details['retry_after_s']`` says when one frees."""

    error_id = "access.pool_exhausted"
    status = 503


class KeyRejected(AuthenticationRequired):
    """The API key is missing, unknown or revoked (which one is not said to the caller)."""

    error_id = "access.key_rejected"


class OutOfScope(PermissionDenied):
    """The API key may not reserve from that pool, or see that interaction."""

    error_id = "access.out_of_scope"
