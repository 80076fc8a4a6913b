"""`pip install .` without extras gives `feeds` what it imports and nothing of the fixture world: every
third-party module the product imports comes with a base dependency (or one of theirs), the fixture world's
dependencies are not among them, and the wheel holds the `loaders` package alone."""

from __future__ import annotations

import re
import sys
import tomllib
from importlib import metadata

from tests.unit.test_layers import LOADERS, imports

ROOT = LOADERS.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def base_closure() -> set[str]:
    """The base dependencies and everything they require (extras and markers not taken)."""
    seen: set[str] = set()
    todo = [_name(r) for r in PYPROJECT["project"]["dependencies"]]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        todo += [_name(r) for r in requires if "extra ==" not in r]
    return seen


def test_every_module_the_product_imports_comes_with_a_base_dependency() -> None:
    closure = base_closure()
    providers = metadata.packages_distributions()
    modules = {
        name.split(".")[0]
        for path in LOADERS.rglob("*.py")
        for name in imports(path)
        if not name.startswith(".")
    }
    third_party = sorted(m for m in modules if m not in sys.stdlib_module_names and m != "loaders")
    assert "duckdb" in third_party and "asyncssh" in third_party  # the scan sees the product's imports
    missing = {
        m: providers.get(m, ["?"])
        for m in third_party
        if not {_name(d) for d in providers.get(m, [])} & closure
    }
    assert not missing, f"imported by loaders/ but not installed by `pip install .`: {missing}"


def test_the_fixture_world_stays_out_of_the_base_install() -> None:
    closure = base_closure()
    fixtures_only = {_name(r) for r in PYPROJECT["project"]["optional-dependencies"]["fixtures"]}
    assert fixtures_only and not fixtures_only & closure, fixtures_only & closure
    assert PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"] == ["loaders*"]
    assert not (ROOT / "loaders" / "export").exists() and (ROOT / "fixtures" / "world.py").is_file()
