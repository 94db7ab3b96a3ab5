"""Benchmarks of the product (``cti bench ...``): each prints its figures and saves them as JSON.

Every benchmark measures its own floor in the same run (the cheapest way to do the same job on
this machine) and prints the ratio, so a figure means something on any machine. Nothing here is
a test: speed targets are read from the printed and saved figures, never asserted.
"""
