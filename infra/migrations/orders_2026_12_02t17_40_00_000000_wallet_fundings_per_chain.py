"""wallet_fundings per chain: a funding counts on the chain it was made on (its genesis hash).
A new local ledger is a new chain, and its wallets start unfunded even when the database
remembers their funding on the ledger before."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-12-02T17:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "wallet_fundings keyed by chain and wallet"


class manager_table(Table, tablename="wallet_fundings"):
    pass


FORWARDS = (
    "ALTER TABLE wallet_fundings ADD COLUMN chain varchar(44) NOT NULL DEFAULT ''",
    "ALTER TABLE wallet_fundings DROP CONSTRAINT wallet_fundings_pkey",
    "ALTER TABLE wallet_fundings ADD PRIMARY KEY (chain, wallet_address)",
)
BACKWARDS = (
    "DELETE FROM wallet_fundings a USING wallet_fundings b"
    " WHERE a.wallet_address = b.wallet_address AND a.chain > b.chain",
    "ALTER TABLE wallet_fundings DROP CONSTRAINT wallet_fundings_pkey",
    "ALTER TABLE wallet_fundings DROP COLUMN chain",
    "ALTER TABLE wallet_fundings ADD PRIMARY KEY (wallet_address)",
)


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
