"""The explorer page at /explorer: static files that talk only to /graphql with the user's own key.

The server renders no data: it serves explorer/src (HTML, JS, CSS) and the graph library from
explorer/node_modules, which `make install` fills with `npm ci`; nothing of the library is copied
into the repository.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.staticfiles import StaticFiles

from kgcrm.graph.driver import Graph
from kgcrm.graph.errors import InvalidInput
from kgcrm.graph.queries import explorer as q
from kgcrm.graph.settings import Settings
from kgcrm.gql.auth import create_api_key

logger = logging.getLogger(__name__)

EXPLORER_PATH = "/explorer"
# Browser files the page loads from node_modules, by the name the page asks for.
VENDOR_FILES = {"cytoscape.min.js": Path("cytoscape/dist/cytoscape.min.js")}
# The page loads only its own files and talks only to this API (HTTP and WebSocket).
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "
        "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
_MISSING = """<!doctype html><meta charset="utf-8"><title>kgcrm explorer</title>
<p>The explorer's files are not installed here ({what}). Run <code>make install</code> (it runs
<code>npm ci</code> in <code>explorer/</code>), or set <code>KGCRM_EXPLORER_DIR</code>.</p>"""


def explorer_dir(settings: Settings) -> Path:
    """KGCRM_EXPLORER_DIR, or the explorer/ folder beside the code (a checkout or an editable install)."""
    if settings.explorer_dir is not None:
        return settings.explorer_dir
    return Path(__file__).resolve().parent.parent / "explorer"


def explorer_url(settings: Settings, *, key: str | None = None, host: str | None = None,
                 port: int | None = None) -> str:
    """The page's URL on this API; a key rides in the fragment, which browsers never send to a server."""
    shown_host = host or settings.api_host
    if shown_host in ("0.0.0.0", "::", ""):
        shown_host = "127.0.0.1"
    url = f"http://{shown_host}:{port or settings.api_port}{EXPLORER_PATH}/"
    return f"{url}#key={quote(key, safe='')}" if key else url


@dataclass(frozen=True)
class DemoSignIn:
    """An account manager's new key and the explorer URL that signs them in."""

    user_id: str
    user_name: str | None
    accounts: int
    key: str
    url: str


def create_demo_sign_in(graph: Graph, settings: Settings, *, host: str | None = None,
                        port: int | None = None) -> DemoSignIn:
    """Create an account_manager key for the owner of the hottest account (for `make demo`)."""
    rows = graph.read(q.DEMO_ACCOUNT_MANAGER)
    if not rows:
        raise InvalidInput("explorer demo: no User owns an Account yet; load or generate a world first")
    row = rows[0]
    key = create_api_key(graph, role="account_manager", user_id=row["user_id"], name="explorer demo")
    return DemoSignIn(user_id=row["user_id"], user_name=row["name"], accounts=row["accounts"], key=key.secret_key,
                      url=explorer_url(settings, key=key.secret_key, host=host, port=port))


def include_explorer(app: FastAPI, settings: Settings) -> None:
    """Serve the page at /explorer/ and its assets below it."""
    root = explorer_dir(settings)
    source = root / "src"
    modules = root / "node_modules"
    router = APIRouter()

    @router.get(EXPLORER_PATH, include_in_schema=False)
    @router.get(EXPLORER_PATH + "/", include_in_schema=False)
    async def explorer_page() -> HTMLResponse:
        """The single page; it routes in the URL's fragment (#/account/<id>)."""
        index = source / "index.html"
        if not index.is_file():
            return HTMLResponse(_MISSING.format(what="no src/index.html"), status_code=503)
        return HTMLResponse(index.read_text(encoding="utf-8"), headers=_HEADERS)

    @router.get(EXPLORER_PATH + "/vendor/{name}", include_in_schema=False)
    async def explorer_vendor(name: str) -> Response:
        """A browser library from node_modules (only the files named in VENDOR_FILES)."""
        relative = VENDOR_FILES.get(name)
        path = modules / relative if relative else None
        if path is None or not path.is_file():
            return HTMLResponse(_MISSING.format(what=f"no {name}"), status_code=404)
        return FileResponse(path, media_type="text/javascript", headers=_HEADERS)

    app.include_router(router)
    if source.is_dir():
        app.mount(EXPLORER_PATH + "/static", StaticFiles(directory=source), name="explorer-static")
    if not (modules / VENDOR_FILES["cytoscape.min.js"]).is_file():
        logger.warning("the explorer's graph library is missing: run `npm ci` in explorer/ (make install)")
