# Thin wrappers: dev.py does the work (venv, installs from the lock, runs tools), so these
# targets and `python3 dev.py ...` behave the same.
PYTHON ?= python3
# The pinned uv that dev.py installs from requirements-bootstrap.lock (a uv on PATH may differ).
UV ?= .venv/bin/uv
# Universal (all platforms) lock for Python >= 3.11, with hashes. The project itself is not in
# the lock: it is installed afterwards with `pip install --no-deps`.
LOCK_FLAGS = --quiet --universal --python-version 3.11 --generate-hashes --custom-compile-command "make lock"

.PHONY: up test lint bench lock programs programs-check

up:
	$(PYTHON) dev.py up

test:
	$(PYTHON) dev.py test $(ARGS)

lint:
	$(PYTHON) dev.py lint

bench:
	$(PYTHON) dev.py bench $(ARGS)

# The installer's own pins first; dev next, then runtime constrained by it, so both files carry identical runtime pins.
# Existing pins are kept; `make lock UPGRADE=--upgrade` moves everything to the newest.
lock:
	$(UV) pip compile $(LOCK_FLAGS) requirements-bootstrap.in -o requirements-bootstrap.lock
	$(UV) pip compile $(LOCK_FLAGS) $(UPGRADE) --extra dev pyproject.toml -o requirements-dev.lock
	$(UV) pip compile $(LOCK_FLAGS) $(UPGRADE) pyproject.toml -c requirements-dev.lock -o requirements.lock

# The on-chain programs (programs/README.md): C -> clang-14 -> programs/sbf_link.py -> SBPF v0.
# `programs` rewrites the committed validator/programs/*.so; `programs-check` rebuilds into a
# temp dir and fails if a committed binary differs. Both need clang-14; nothing else does.
programs:
	$(PYTHON) programs/build.py

programs-check:
	$(PYTHON) programs/build.py --check
