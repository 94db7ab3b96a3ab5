"""Fakes that speak real protocols over real sockets, for adapter tests."""
