"""Pop templates shipped with the product that supervisors start from (package data)."""
