"""Counters kept as orders finish, and indexes over open orders only: what the metrics, the
watcher and the sweep read no longer grows with the number of finished orders, whatever the
planner's statistics say.

- `order_totals (status, shard, n)`: how many orders finished in each terminal status, summed
  over shards. The step statement that takes an order into a terminal status adds to it in the
  same statement, so the totals are exact. It writes the shard of its backend
  (`pg_backend_pid() % 64`), so that concurrent batches rarely wait on each other's row.
- `order_confirmations (second, shard, n)`: orders confirmed per epoch second, for the last
  minute's rate; the sweep deletes rows older than an hour.
- `orders_waiting_created`, `orders_confirmed_updated`: partial indexes for the watcher's
  reconcile (waiting orders) and the latency figures (the latest confirmations);
  `idempotency_keys_created` for the sweep that forgets keys after 48 hours.
- The orders in each open status are counted through the partial index of open orders
  (`orders_open_updated`, from the indexes migration).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-12-01T23:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "order counters and partial indexes: metrics and reconcile without scans"


class manager_table(Table, tablename="orders"):
    pass


TERMINAL = "('confirmed', 'failed', 'cancelled', 'expired')"

FORWARDS = (
    """CREATE TABLE order_totals (
        status varchar(16) NOT NULL,
        shard smallint NOT NULL,
        n bigint NOT NULL,
        PRIMARY KEY (status, shard)
    )""",
    "INSERT INTO order_totals (status, shard, n) SELECT status, 0, count(*) FROM orders"
    f" WHERE status IN {TERMINAL} GROUP BY status",
    """CREATE TABLE order_confirmations (
        second bigint NOT NULL,
        shard smallint NOT NULL,
        n integer NOT NULL,
        PRIMARY KEY (second, shard)
    )""",
    "CREATE INDEX orders_waiting_created ON orders (created_at) WHERE status = 'waiting'",
    "CREATE INDEX orders_confirmed_updated ON orders (updated_at) WHERE status = 'confirmed'",
    "CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at)",
)
BACKWARDS = (
    "DROP INDEX IF EXISTS idempotency_keys_created",
    "DROP INDEX IF EXISTS orders_confirmed_updated",
    "DROP INDEX IF EXISTS orders_waiting_created",
    "DROP TABLE IF EXISTS order_confirmations",
    "DROP TABLE IF EXISTS order_totals",
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
