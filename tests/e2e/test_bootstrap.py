"""The front door on a fresh machine: the README's bootstrap, run as a newcomer would.

A copy of the tree with no `.venv`, the machine's own Python (not this venv's), no pip or uv
cache and no installer settings from the environment: `dev.py setup` must install exactly the
lock, from the pinned installer, and the engine must import. Slow (it downloads every wheel),
and it needs the package index; that is what a newcomer's first run needs too.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MACHINE_PYTHON = Path(sys.base_prefix) / "bin" / "python3"
LEFT_OUT = {".venv", ".data", ".git", "test-artifacts", "node_modules", "loadtest/reports"}


def fresh_copy(dest: Path) -> Path:
    def ignore(directory: str, names: list[str]) -> set[str]:
        rel = Path(directory).relative_to(ROOT)
        return {
            n
            for n in names
            if str(rel / n) in LEFT_OUT
            or n in LEFT_OUT
            or n in {"__pycache__", ".ruff_cache"}
            or n.endswith(".egg-info")
        }

    tree = dest / "order-engine"
    shutil.copytree(ROOT, tree, ignore=ignore)
    return tree


def clean_env(tmp: Path) -> dict[str, str]:
    """The machine as a newcomer has it: no installer settings, no caches, no venv active."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PIP_", "UV_", "VIRTUAL_ENV", "PYTHON", "CONDA"))
    }
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if ".venv" not in p
    )
    env["HOME"] = str(tmp / "home")  # no ~/.cache/pip, ~/.cache/uv, ~/.config/pip or uv
    env["UV_CACHE_DIR"] = str(tmp / "uv-cache")  # explicit, in case XDG points elsewhere
    env["PIP_NO_CACHE_DIR"] = "1"
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    return env


@pytest.mark.timeout(600)
def test_a_fresh_clone_installs_exactly_the_lock_with_the_machines_python(tmp_path: Path) -> None:
    assert MACHINE_PYTHON.is_file(), MACHINE_PYTHON
    tree = fresh_copy(tmp_path)
    env = clean_env(tmp_path)
    setup = subprocess.run(
        [str(MACHINE_PYTHON), "dev.py", "setup"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert setup.returncode == 0, setup.stdout + setup.stderr
    venv_python = tree / ".venv" / "bin" / "python"
    config = (tree / ".venv" / "pyvenv.cfg").read_text()
    assert "include-system-site-packages = false" in config, config

    # uv, asked what syncing to the locks would change, finds nothing but the project itself
    # (installed editable on top): every locked package at its version, nothing else.
    check = subprocess.run(
        [str(tree / ".venv" / "bin" / "uv"), "--no-config", "pip", "sync", "--dry-run",
         "--python", str(venv_python), "--require-hashes", "requirements-bootstrap.lock",
         "requirements-dev.lock"],
        cwd=tree, env=env, capture_output=True, text=True,
    )  # fmt: skip
    report = check.stdout + check.stderr
    assert check.returncode == 0, report
    changes = [line for line in report.splitlines() if line.startswith((" - ", " + "))]
    assert [c.split("==")[0] for c in changes] == [" - order-engine"], report
    pinned = subprocess.run(
        [str(venv_python), "-c", "import importlib.metadata as m; print(m.version('pydantic'))"],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    lock_pin = re.search(r"^pydantic==(\S+)", (tree / "requirements-dev.lock").read_text(), re.M)
    assert lock_pin and pinned.stdout.strip() == lock_pin[1], pinned  # pip 23.2 went past it

    imported = subprocess.run(
        [str(venv_python), "-c", "import functions.api, functions.worker, infra.cli; print('ok')"],
        cwd=tmp_path,  # not the tree: the import must come from the installed project
        env=env,
        capture_output=True,
        text=True,
    )
    assert imported.stdout.strip() == "ok", imported.stderr


@pytest.mark.timeout(300)
def test_up_without_the_local_extra_says_what_is_missing_in_one_line(tmp_path: Path) -> None:
    """An install from the runtime lock only (as the containers have it): `order-engine up`
    with no DATABASE_URL/REDIS_URL names the missing extra and the way out, no traceback."""
    tree = fresh_copy(tmp_path)
    env = clean_env(tmp_path)
    venv = tree / ".venv-runtime"
    subprocess.run([str(MACHINE_PYTHON), "-m", "venv", str(venv)], check=True, env=env)
    python = venv / "bin" / "python"
    steps = [
        [str(python), "-m", "pip", "--isolated", "--disable-pip-version-check", "install",
         "--quiet", "--require-hashes", "--no-deps", "-r", "requirements-bootstrap.lock"],
        [str(venv / "bin" / "uv"), "--no-config", "pip", "sync", "--quiet", "--python",
         str(python), "--require-hashes", "requirements-bootstrap.lock", "requirements.lock"],
        [str(venv / "bin" / "uv"), "--no-config", "pip", "install", "--quiet", "--python",
         str(python), "--no-deps", "--no-build-isolation", "."],
    ]  # fmt: skip
    for step in steps:
        done = subprocess.run(step, cwd=tree, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
    up = subprocess.run(
        [str(venv / "bin" / "order-engine"), "up"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert up.returncode != 0
    lines = up.stderr.strip().splitlines()
    assert len(lines) == 1, up.stderr
    assert "order-engine[local]" in lines[0] and "DATABASE_URL" in lines[0], lines[0]
    assert "Traceback" not in up.stderr
