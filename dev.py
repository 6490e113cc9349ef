#!/usr/bin/env python3
"""Newcomer entry point; needs only Python 3.11+ (standard library).

    python3 dev.py up                  run the whole engine locally (order-engine up)
    python3 dev.py test [pytest args]  run the test suite
    python3 dev.py lint                ruff check + ruff format --check + mypy (strict, shared/)
    python3 dev.py bench [args]        run loadtest/bench_core.py (the core figures)
    python3 dev.py run CMD [args]      run any command inside the project's venv
    python3 dev.py setup               only create/refresh .venv

Creates .venv in the repo on first use and installs it in three hash-checked steps: the pinned
installer (uv) and build backend from requirements-bootstrap.lock with the venv's own pip, then
uv makes the venv exactly requirements-dev.lock, then the project (editable, --no-deps). It
reinstalls only when a lock or pyproject.toml changes. Commands run from the repo root,
whatever the current directory.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
WINDOWS = os.name == "nt"
BIN = VENV / ("Scripts" if WINDOWS else "bin")
PYTHON = BIN / ("python.exe" if WINDOWS else "python")
LOCK = ROOT / "requirements-dev.lock"
BOOTSTRAP = ROOT / "requirements-bootstrap.lock"  # the installer (uv) and the build backend
STAMP = VENV / ".dev-stamp"  # hash of the inputs the venv was last installed from


def say(msg: str) -> None:
    print(f"[dev] {msg}", file=sys.stderr, flush=True)


def inputs_digest() -> str:
    h = hashlib.sha256()
    for path in (BOOTSTRAP, LOCK, ROOT / "pyproject.toml"):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def install_step(*cmd: str | Path) -> None:
    if subprocess.call([str(c) for c in cmd], cwd=ROOT, env=install_env()) != 0:
        say("install failed (see the output above); .venv left as is, rerun to retry")
        sys.exit(1)


def install_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # nothing from outside the venv may satisfy a requirement
    return env


def ensure_venv() -> None:
    if not PYTHON.exists():
        say(f"creating {VENV}")
        venv.EnvBuilder(with_pip=True).create(VENV)
    digest = inputs_digest()
    if STAMP.is_file() and STAMP.read_text().strip() == digest:
        return
    # Whatever pip the machine's Python bundles installs the two exact, hashed, extra-free pins
    # of the bootstrap lock the same way; from there the pinned uv reads the locks, so the same
    # lock gives the same venv whatever the registry publishes later (README, "Lock files").
    say(f"installing the pinned installer from {BOOTSTRAP.name}")
    install_step(
        PYTHON, "-m", "pip", "--isolated", "--disable-pip-version-check", "install", "--quiet",
        "--require-hashes", "--no-deps", "--only-binary", ":all:", "-r", BOOTSTRAP,
    )  # fmt: skip
    uv = (BIN / ("uv.exe" if WINDOWS else "uv"), "--no-config")
    say(f"syncing .venv to {LOCK.name} (hash-checked)")
    install_step(
        *uv, "pip", "sync", "--quiet", "--python", PYTHON, "--require-hashes", BOOTSTRAP, LOCK
    )
    say("installing the project (editable)")
    install_step(
        *uv, "pip", "install", "--quiet", "--python", PYTHON, "--no-deps",
        "--no-build-isolation", "-e", ROOT,
    )  # fmt: skip
    STAMP.write_text(digest + "\n")
    say("environment ready")


def venv_env() -> dict[str, str]:
    env = dict(os.environ)
    env["VIRTUAL_ENV"] = str(VENV)
    env["PATH"] = str(BIN) + os.pathsep + env.get("PATH", "")
    env.pop("PYTHONHOME", None)
    return env


def tool(name: str) -> str:
    """A console script from the venv (name.exe on Windows), else the bare name for PATH."""
    path = BIN / (name + ".exe" if WINDOWS else name)
    return str(path) if path.exists() else name


def call(argv: list[str]) -> int:
    return subprocess.call(argv, cwd=ROOT, env=venv_env())


def run(argv: list[str]) -> None:
    """Replace this process with argv (so signals and the exit code pass straight through)."""
    os.chdir(ROOT)
    if WINDOWS:  # os.exec* on Windows does not wait for the child: run it and pass its code on
        sys.exit(call(argv))
    try:
        os.execvpe(argv[0], argv, venv_env())
    except FileNotFoundError:
        say(f"command not found: {argv[0]}")
        sys.exit(127)


def main(args: list[str]) -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - newcomers may run an older python3
        sys.exit("dev.py needs Python 3.11 or newer")
    if not args or args[0] in {"-h", "--help", "help"}:
        print(__doc__)
        sys.exit(0 if args else 2)
    command, rest = args[0], args[1:]
    if command not in {"up", "test", "lint", "bench", "run", "setup"}:
        say(f"unknown command {command!r}; try: python3 dev.py --help")
        sys.exit(2)
    if command == "run" and not rest:
        say("usage: python3 dev.py run CMD [args...]")
        sys.exit(2)
    ensure_venv()
    if command == "setup":
        return
    if command == "up":
        run([tool("order-engine"), "up", *rest])
    elif command == "test":
        run([tool("pytest"), *rest])
    elif command == "lint":
        ruff = tool("ruff")
        code = call([ruff, "check", "."]) or call([ruff, "format", "--check", "."])
        sys.exit(code or call([tool("mypy")]))  # strict on shared/ (pyproject.toml)
    elif command == "bench":
        run([str(PYTHON), "-m", "loadtest.bench_core", *rest])
    else:
        run([tool(rest[0]), *rest[1:]])


if __name__ == "__main__":
    main(sys.argv[1:])
