"""`python -m loaders.cli`: the `feeds` command from a checkout."""

from __future__ import annotations

from .app import main

if __name__ == "__main__":
    main()
