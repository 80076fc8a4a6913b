"""`feeds report`: one self-contained HTML file of feed health, drawn from the health mart (models/health)."""

from .build import write_report
from .data import ReportError

__all__ = ["ReportError", "write_report"]
