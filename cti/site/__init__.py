"""Setting up a site: locations with their emergency address, numbers and their porting,
devices by MAC and model, the files desk phones fetch, and one-time signup links (issue 16).

:class:`~cti.site.service.SiteAdmin` is what the admin console's wizard calls; the routes are in
:mod:`agent_ui.site_api`; the root builds it. The Asterisk side (per-device endpoints, the
emergency dialplan) is generated with the rest by :mod:`cti.admin.pbxconf`.
"""
