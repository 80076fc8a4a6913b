"""Faults and bad input (docs/reliability.md): crashes, the fault proxy, hostile names, property runs."""
