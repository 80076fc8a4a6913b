"""One module per vendor: its layout (path -> raw table, partitions, format), shared with the export side."""

from __future__ import annotations

from typing import Any

from .base import Layout, Route, Sniffed, Vouched, sniff

__all__ = ["Layout", "Route", "Sniffed", "Vouched", "get_layout", "sniff"]


def get_layout(vendor: str, options: dict[str, Any] | None = None) -> Layout:
    if vendor == "leanplum":
        from .leanplum import LeanplumLayout

        return LeanplumLayout(options)
    if vendor == "sailthru":
        from .sailthru import SailthruLayout

        return SailthruLayout(options)
    if vendor == "simon":
        from .simon import SimonLayout

        return SimonLayout(options)
    if vendor == "apsis":
        from .apsis import ApsisLayout

        return ApsisLayout(options)
    if vendor == "encharge":
        from .encharge import EnchargeLayout

        return EnchargeLayout(options)
    raise KeyError(f"no layout for vendor {vendor!r} yet")
