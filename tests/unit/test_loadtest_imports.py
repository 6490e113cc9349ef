"""The benchmarks are run by hand: importing each one here keeps a rename from breaking them
unnoticed (they are not otherwise exercised by the suite)."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import loadtest

MODULES = sorted(m.name for m in pkgutil.iter_modules(loadtest.__path__) if m.name != "locustfile")


@pytest.mark.parametrize("name", MODULES)
def test_a_benchmark_module_imports(name: str) -> None:
    importlib.import_module(f"loadtest.{name}")
