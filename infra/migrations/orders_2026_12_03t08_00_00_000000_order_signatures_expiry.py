"""order_signatures_created: the sweep forgets claims older than a day (shared/sweep.py) through
this index; a claim matters only while its transaction's blockhash can still be built on."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-12-03T08:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "order_signatures indexed by age, for their expiry"


class manager_table(Table, tablename="order_signatures"):
    pass


FORWARDS = ("CREATE INDEX order_signatures_created ON order_signatures (created_at)",)
BACKWARDS = ("DROP INDEX IF EXISTS order_signatures_created",)


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
