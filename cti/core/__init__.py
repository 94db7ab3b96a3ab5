"""The pure call-state core: PBX events in, call updates and call records out.

Nothing in this package does I/O or imports asyncio, panoramisk, SQLAlchemy, websockets or an
HTTP library; an import-linter contract in pyproject.toml keeps it so.
"""
