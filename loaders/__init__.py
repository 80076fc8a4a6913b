"""The engagement warehouse: loaders for five marketing vendors' feeds into DuckDB."""

__version__ = "0.1.0"
