"""Schemathesis against the engine's own OpenAPI document (`/schema/openapi.json`), served by
real API and worker processes: every operation, generated valid and invalid inputs, with a
bounded number of examples. No response may be a server error, break its declared schema, or
carry a status code the document does not declare. WebSocket routes are not in OpenAPI.

The run's summary is written to test-artifacts/schemathesis.txt.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tests.helpers.engine import Engine

ARTIFACT = Path(__file__).resolve().parents[2] / "test-artifacts" / "schemathesis.txt"
CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance"
MAX_EXAMPLES = 100  # per operation: the whole run takes about a minute
TOKEN = "schemathesis-control-token"


def _st() -> str:
    found = shutil.which("st", path=str(Path(sys.executable).parent)) or shutil.which("st")
    if found is None:
        pytest.skip("schemathesis is not installed (pip install 'order-engine[dev]')")
    return found


@pytest.mark.timeout(300)
async def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    engine_factory: Callable[..., Awaitable[Engine]], tmp_path: Path
) -> None:
    # With the launch control on (and its token sent), so POST /api/sim/launch is fuzzed too.
    engine = await engine_factory(SIM_CONTROL_TOKEN=TOKEN)
    command = [
        _st(),
        "run",
        f"{engine.url}/schema/openapi.json",
        f"--header=Authorization: Bearer {TOKEN}",
        f"--checks={CHECKS}",
        f"--max-examples={MAX_EXAMPLES}",
        "--seed=20261122",
        "--workers=2",
        "--phases=examples,coverage,fuzzing",
        "--request-timeout=10",
        "--suppress-health-check=all",
        f"--report-dir={tmp_path / 'report'}",
    ]
    proc = await asyncio.create_subprocess_exec(
        *command,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_HOOKS": ""},
        cwd=tmp_path,
    )
    output, _ = await asyncio.wait_for(proc.communicate(), 280)
    text = re.sub(r"\x1b\[[0-9;]*m", "", output.decode(errors="replace"))
    ARTIFACT.parent.mkdir(exist_ok=True)
    ARTIFACT.write_text(f"$ st run <engine>/schema/openapi.json --checks={CHECKS} ...\n\n{text}")
    print(text[-3000:])
    assert proc.returncode == 0, text[-6000:]
