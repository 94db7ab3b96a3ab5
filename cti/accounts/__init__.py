"""Accounts: web sessions kept in the store, so that logging out and account changes end them.

A service package (docs/architecture.md): its tables live on the store's MetaData
(:mod:`cti.store.session_tables`), the web edge reaches it through the ``SessionRegistry`` protocol
of :mod:`agent_ui.session_guard`, and the root (:mod:`cti.daemon`) wires it.
"""
