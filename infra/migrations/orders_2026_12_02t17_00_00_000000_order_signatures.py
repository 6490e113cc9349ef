"""order_signatures: the one order each transaction signature belongs to (shared/orders/
signatures.py). Two orders can build byte-identical transactions, hence one signature; each
order claims its signature here before storing and sending it, and builds again on a refusal."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-12-02T17:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "order_signatures: one order per transaction signature"


class manager_table(Table, tablename="order_signatures"):
    pass


FORWARDS = (
    """CREATE TABLE order_signatures (
        signature varchar(90) PRIMARY KEY,
        order_id uuid NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    )""",
)
BACKWARDS = ("DROP TABLE IF EXISTS order_signatures",)


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
