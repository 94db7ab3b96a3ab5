"""Site settings an admin chooses (the default region), stored in the store and read live.

:class:`SiteSettings` is the one place the daemon's parts read the region from, through the
:class:`cti.numbers.RegionSource` Protocol; its table is :mod:`cti.site_settings.tables`.
"""

from __future__ import annotations

from cti.site_settings import tables as _tables  # noqa: F401  (its table on the metadata)
from cti.site_settings.service import REGION_KEY, RegionChoice, SiteSettings, check_region

__all__ = ["REGION_KEY", "RegionChoice", "SiteSettings", "check_region"]
