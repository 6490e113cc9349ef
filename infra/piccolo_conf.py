"""Piccolo's configuration module (PICCOLO_CONF=infra.piccolo_conf).

The engine lives in shared.db, unconnected; each process points it at its DATABASE_URL at start.
For Piccolo's own CLI (`piccolo migrations new orders --auto`) the environment supplies it.
"""

import os

from piccolo.conf.apps import AppRegistry

from shared.db import DB

if not DB.config and os.environ.get("DATABASE_URL"):
    DB.config = {"dsn": os.environ["DATABASE_URL"]}

APP_REGISTRY = AppRegistry(apps=["infra.piccolo_app"])
