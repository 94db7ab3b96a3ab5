"""The site settings table lives with the store's other tables (cti.store.site_settings_tables)."""

from cti.store.site_settings_tables import site_settings

__all__ = ["site_settings"]
