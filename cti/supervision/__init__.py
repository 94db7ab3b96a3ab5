"""Supervision: agent groups, their pop templates, and the live view of each group."""
