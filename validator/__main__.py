"""`python -m validator` (or `order-engine chain`): run the local validator until SIGINT/SIGTERM."""

from __future__ import annotations

import sys

import uvloop

from shared.config import SettingsError
from shared.logs import configure_logging
from validator.settings import ChainSettings, load_chain_settings


async def _run(settings: ChainSettings) -> None:
    from validator.node import Validator  # after logging is configured: opening logs

    await Validator(settings).run()


def main() -> None:
    try:
        settings = load_chain_settings()
    except SettingsError as exc:
        sys.exit(f"order-engine chain: configuration error: {exc}")
    configure_logging(settings.log_format, settings.log_level)
    uvloop.run(_run(settings))


if __name__ == "__main__":
    main()
