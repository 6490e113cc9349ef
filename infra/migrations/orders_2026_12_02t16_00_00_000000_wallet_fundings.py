"""Wallets funded on the local chain (the faucet, or the starter balance of a first order)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-12-02T16:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "wallet_fundings: which wallets the local faucet funded, and how"


class manager_table(Table, tablename="wallet_fundings"):
    pass


FORWARDS = (
    """CREATE TABLE wallet_fundings (
        wallet_address varchar(44) PRIMARY KEY,
        source varchar(16) NOT NULL CHECK (source IN ('faucet', 'starter')),
        created_at timestamptz NOT NULL DEFAULT now()
    )""",
)
BACKWARDS = ("DROP TABLE IF EXISTS wallet_fundings",)


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="orders", description=DESCRIPTION)

    async def run_forwards() -> None:
        for statement in FORWARDS:
            await manager_table.raw(statement)

    async def run_backwards() -> None:
        for statement in BACKWARDS:
            await manager_table.raw(statement)

    manager.add_raw(run_forwards)
    manager.add_raw_backwards(run_backwards)
    return manager
