"""The region question of ``cti serve``'s first run (setup), before the daemon starts.

A site whose configuration file names no ``[crm] default_region`` and whose store holds none
is asked once, on a terminal, which country its numbers are in; ``--region`` answers without
asking (scripts, containers). Without a terminal nothing is asked: the daemon starts on the
built-in default and warns, and an admin sets it in the admin console. ``cti demo`` never asks
(its data are GB numbers).
"""

from __future__ import annotations

from collections.abc import Callable

from cti.errors import ValidationFailed
from cti.site_settings.service import RegionChoice, SiteSettings, check_region
from cti.store import Store

__all__ = ["QUESTION", "first_run_region"]

QUESTION = (
    "Which country are this site's phone numbers in? Numbers typed without a country code"
    " are read as numbers of it (two letters, ISO 3166, such as US, GB, DE)"
)
_ACTOR = "setup"
_TRIES = 3


def first_run_region(
    store: Store,
    configured: str,
    *,
    configured_by_site: bool,
    given: str | None = None,
    ask: Callable[[str, str], str] | None = None,
) -> RegionChoice | None:
    """Store the site's region when setup should, and return it; None when nothing changed.

    ``given`` (``--region``) is stored whatever is stored already, audited as setup's.
    Otherwise ``ask(question, default)`` is called (at most three times, a code it does not
    know is asked again) only when neither the file nor the store has a region. Raises
    ValidationFailed for a ``given`` code no country has.
    """
    settings = SiteSettings(store, configured, configured_by_site=configured_by_site)
    if given is not None:
        settings.load_sync()
        return settings.set_default_region_sync(given, _ACTOR)
    if ask is None or settings.load_sync().chosen:
        return None
    refused = ValidationFailed("no region given", details={"field": "default_region"})
    for _ in range(_TRIES):
        try:
            region = check_region(ask(QUESTION, configured))
        except ValidationFailed as again:
            refused = again
            continue
        return settings.set_default_region_sync(region, _ACTOR)
    raise refused
