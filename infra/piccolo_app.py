"""The Piccolo app that owns the engine's tables and their migrations."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from shared.models import IdempotencyKeyRow, OrderEventRow, OrderRow

APP_CONFIG = AppConfig(
    app_name="orders",
    migrations_folder_path=str(Path(__file__).parent / "migrations"),
    table_classes=[OrderRow, OrderEventRow, IdempotencyKeyRow],
    migration_dependencies=[],
    commands=[],
)
