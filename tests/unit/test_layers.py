"""The product package's import layers: `loaders` never imports the fixture world, the tests or the scripts,
and nothing outside the CLI package imports it (the CLI imports the product, one direction)."""

from __future__ import annotations

import ast
from pathlib import Path

LOADERS = Path(__file__).resolve().parents[2] / "loaders"
OUTSIDE = ("fixtures", "tests", "scripts", "bench")
CLI = LOADERS / "cli"


def imports(path: Path) -> list[str]:
    """Absolute names of the modules a file imports (relative imports resolved against its package)."""
    package = ".".join(path.relative_to(LOADERS.parent).with_suffix("").parts[:-1])
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            names += [module] + [f"{module}.{alias.name}" for alias in node.names]
    return names


def test_the_product_never_imports_the_fixtures_or_the_cli() -> None:
    files = sorted(LOADERS.rglob("*.py"))
    assert len(files) > 20
    wrong = []
    for path in files:
        for name in imports(path):
            if name.split(".")[0] in OUTSIDE:
                wrong.append(f"{path.relative_to(LOADERS.parent)} imports {name}")
            if name.split(".")[:2] == ["loaders", "cli"] and CLI not in path.parents:
                wrong.append(f"{path.relative_to(LOADERS.parent)} imports the CLI ({name})")
    assert not wrong, "\n".join(wrong)


def test_the_check_sees_relative_imports(tmp_path: Path) -> None:
    # the receive command's old cycle (it imported `cli.fail`): its relative imports resolve to absolute names
    names = imports(CLI / "receive.py")
    assert "loaders.errors.CommandError" in names and "loaders.cli" not in names
