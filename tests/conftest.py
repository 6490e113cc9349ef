"""Real PostgreSQL and Redis for the tests, isolated per test run and per engine.

The machine's servers when DATABASE_URL / REDIS_URL are set, embedded ones otherwise. A
template database is migrated once; every engine (or `db` fixture) gets its own database cloned
from it and dropped afterwards, and its own Redis key namespace, deleted afterwards.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from shared.config import Settings, load_settings
from tests.helpers.chain import check_engines_conserve
from tests.helpers.engine import (
    FAST,
    Databases,
    Engine,
    EngineFactory,
    SettingsFactory,
    delete_namespace,
    with_database,
)

MAX_TEST_PROCESSES = 4  # each runs its own engines (API and worker processes) and servers


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto` (the default, pyproject.toml): a test process per core, at most four."""
    return max(1, min(MAX_TEST_PROCESSES, os.cpu_count() or 1))


@pytest.fixture(scope="session")
def servers() -> Iterator[tuple[str, str]]:
    """(postgres admin URL, redis URL)."""
    database_url, redis_url = os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL")
    if database_url and redis_url:
        yield database_url, redis_url
        return
    from infra.local_stack import start_local_stack

    # Not under pytest's own temp root: run as root, the embedded PostgreSQL runs as `nobody`
    # and needs to traverse the path, and every pytest session resets that root to 0700.
    data_dir = Path(tempfile.mkdtemp(prefix="oe-test-stack-"))
    stack = start_local_stack(data_dir)
    try:
        yield stack.database_url, stack.redis_url
    finally:
        stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
async def template_database(servers: tuple[str, str]) -> AsyncIterator[str]:
    """A migrated database that fresh ones are cloned from (CREATE DATABASE ... TEMPLATE)."""
    from infra.migrate import migrate

    admin_url, _ = servers
    name = f"oe_template_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f"CREATE DATABASE {name}")
        await migrate(with_database(admin_url, name), quiet=True)
        yield name
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()


@pytest.fixture
async def settings_factory(
    servers: tuple[str, str], template_database: str
) -> AsyncIterator[SettingsFactory]:
    """`await make_settings(**env)`: Settings on a fresh database and Redis namespace."""
    admin_url, redis_url = servers
    databases = Databases(admin_url, template_database)
    namespaces: list[str] = []

    async def make_settings(**env: str) -> Settings:
        namespace = f"t{uuid.uuid4().hex[:10]}"
        namespaces.append(namespace)
        values = {
            **FAST,
            "DATABASE_URL": await databases.fresh(),
            "REDIS_URL": redis_url,
            "REDIS_NAMESPACE": namespace,
            **env,
        }
        return load_settings(values)

    yield make_settings
    await databases.drop_all()
    for namespace in namespaces:
        await delete_namespace(redis_url, namespace)


@pytest.fixture
async def db(settings_factory: SettingsFactory) -> AsyncIterator[Settings]:
    """This process's pool open on a fresh database, for tests that call the domain directly."""
    from shared.db import close_database, open_database

    settings = await settings_factory()
    await open_database(settings.database_url)
    yield settings
    await close_database()


@pytest.fixture
async def engine_factory(
    settings_factory: SettingsFactory, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[EngineFactory]:
    """`await start_engine(apis=1, workers=1, **env)`: real API and worker processes. In a
    test marked `faults`, each engine's chain is checked for conservation before it stops."""
    engines: list[Engine] = []

    async def start_engine(*, apis: int = 1, workers: int = 1, **env: str) -> Engine:
        settings = await settings_factory(**env)
        engine = Engine(settings, env, tmp_path / f"engine{len(engines)}")
        engines.append(engine)
        await engine.start(apis=apis, workers=workers)
        return engine

    yield start_engine
    try:
        if request.node.get_closest_marker("faults") is not None:
            await check_engines_conserve(engines)
    finally:
        await asyncio.gather(*(engine.stop() for engine in engines))


@pytest.fixture
async def engine(engine_factory: EngineFactory) -> Engine:
    """One API and one worker with the fast defaults."""
    return await engine_factory()


@pytest.fixture(scope="module")
async def shared_engine(
    request: pytest.FixtureRequest,
    servers: tuple[str, str],
    template_database: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Engine]:
    """One engine for a whole module, for tests that only send requests and check answers, or
    that isolate themselves (fresh wallets, their own order ids)."""
    from tests.helpers.engine import ModuleEngine

    log_dir = tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])
    async with ModuleEngine(servers, template_database, log_dir) as engine:
        yield engine
