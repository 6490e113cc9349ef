"""The Piccolo app that owns the engine's tables and their migrations."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from shared.models import IdempotencyKey, Order, OrderEvent

APP_CONFIG = AppConfig(
    app_name="orders",
    migrations_folder_path=str(Path(__file__).parent / "migrations"),
    table_classes=[Order, OrderEvent, IdempotencyKey],
    migration_dependencies=[],
    commands=[],
)
