"""What an order's transaction on the chain needs and leaves: the priority fee asked for, the
signed bytes and the last block height at which they can land (stored before they are sent, so
that a retry can resend them, or know for sure that they can no longer land), and the fee and
compute units of the transaction that landed."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-12-02T16:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "orders: priority fee, signed transaction and its expiry, fee and compute units"


class manager_table(Table, tablename="orders"):
    pass


FORWARDS = (
    "ALTER TABLE orders ADD COLUMN priority_fee varchar(20)",
    "ALTER TABLE orders ADD COLUMN tx_bytes bytea",
    "ALTER TABLE orders ADD COLUMN tx_last_valid_block_height bigint",
    "ALTER TABLE orders ADD COLUMN fee_lamports bigint",
    "ALTER TABLE orders ADD COLUMN compute_units integer",
)
BACKWARDS = tuple(
    f"ALTER TABLE orders DROP COLUMN IF EXISTS {column}"
    for column in (
        "compute_units",
        "fee_lamports",
        "tx_last_valid_block_height",
        "tx_bytes",
        "priority_fee",
    )
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
