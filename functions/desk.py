"""GET /: the trading desk, a static page (HTML, CSS, ES modules; no build step) that drives
the public API from the browser: order ticket, live timelines, wallet history, engine panel.

The files live in `functions/desk/static/` and ship in the package (pyproject's package-data).
The router is mounted at `/` in HTML mode (`/` serves index.html); Litestar matches the API's
own paths (`/api/...`, `/health`, `/schema`) before this catch-all, and it stays out of the
OpenAPI document.
"""

from __future__ import annotations

from pathlib import Path

from litestar.datastructures import CacheControlHeader
from litestar.static_files import create_static_files_router

STATIC_DIR = Path(__file__).resolve().parent / "desk" / "static"

desk = create_static_files_router(
    path="/",
    directories=[STATIC_DIR],
    html_mode=True,
    name="desk",
    include_in_schema=False,
    # Small files that change with each release: revalidate rather than cache stale modules.
    cache_control=CacheControlHeader(no_cache=True),
)
