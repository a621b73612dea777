"""The layering contracts cover the whole tree: no package escapes them by being left out.

`make test` runs the contracts themselves (`lint-imports`, pyproject `[tool.importlinter]`); this test
keeps them complete, since a layers contract says nothing about a package it does not name.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]


def _layered_packages() -> list[str]:
    (layers,) = [c["layers"] for c in _config()["contracts"] if c["type"] == "layers"]
    names: list[str] = []
    for layer in layers:
        names += [name.strip() for name in layer.replace("|", ":").split(":")]
    return names


def _packages(parent: Path, prefix: str) -> set[str]:
    return {f"{prefix}{child.name}" for child in parent.iterdir() if (child / "__init__.py").is_file()}


def test_every_package_sits_in_exactly_one_layer():
    layered = _layered_packages()
    expected = _packages(ROOT / "platform_core", "platform_core.") | {"tenants", "workers", "billing"}
    assert sorted(layered) == sorted(set(layered)), "a package is named in two layers"
    assert set(layered) == expected


def test_the_contracts_cover_every_root_package_and_forbid_cycles():
    config = _config()
    roots = {"platform_core", "tenants", "workers", "billing"}
    assert set(config["root_packages"]) == roots
    (acyclic,) = [c for c in config["contracts"] if c["type"] == "acyclic_siblings"]
    assert set(acyclic["ancestors"]) == roots
