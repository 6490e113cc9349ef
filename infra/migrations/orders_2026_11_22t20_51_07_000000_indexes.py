"""Indexes Piccolo's column API cannot express (composite and partial ones).

Separate from the initial migration because Piccolo runs a migration's raw steps before its
table steps.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-11-22T20:51:07:000000"
VERSION = "1.38.0"
DESCRIPTION = "indexes for history by wallet, event replay by seq and the stale-order sweep"


class manager_table(Table, tablename="orders"):
    pass


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="orders", description=DESCRIPTION)

    async def create_indexes() -> None:
        # Composite indexes Piccolo's column API cannot express: history newest-first by wallet
        # (optionally by status), the event replay by (order, seq), and the sweep of stale orders.
        for statement in (
            "CREATE UNIQUE INDEX order_events_order_seq ON order_events (order_id, seq)",
            "CREATE INDEX orders_wallet_created"
            " ON orders (wallet_address, created_at DESC, id DESC)",
            "CREATE INDEX orders_wallet_status_created"
            " ON orders (wallet_address, status, created_at DESC, id DESC)",
            "CREATE INDEX orders_open_updated ON orders (updated_at)"
            " WHERE status NOT IN ('confirmed', 'failed', 'cancelled', 'expired')",
        ):
            await manager_table.raw(statement)

    async def drop_indexes() -> None:
        for name in (
            "order_events_order_seq",
            "orders_wallet_created",
            "orders_wallet_status_created",
            "orders_open_updated",
        ):
            await manager_table.raw(f"DROP INDEX IF EXISTS {name}")

    manager.add_raw(create_indexes)
    manager.add_raw_backwards(drop_indexes)
    return manager
