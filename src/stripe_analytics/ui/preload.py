"""The first page's code fetched with the page itself (`serve.py`'s middleware).

Streamlit's frontend loads each element's code (a select box, a date input, a KPI tile, a
Vega-Lite chart) only when the first such element arrives over the websocket, from the server
that is at that moment busy running the page's script: on a fresh visit of the Overview those
fetches wait their turn behind the script (0.7 s under load, `bench/bench_app.py`). This
middleware adds `<link rel="modulepreload">` for those modules (and the modules they import)
to the app's HTML, so the browser fetches and compiles them while it opens the websocket.

The modules are found by name in Streamlit's static folder (`Metric.<hash>.js`); with another
Streamlit whose files are named otherwise, nothing is added and the page loads as before.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

# What the first page draws: the sidebar's filters and the Overview's KPI tiles and charts.
FIRST_PAGE_MODULES = ("Selectbox", "DateInput", "Metric", "ArrowVegaLiteChart")
_STATIC_IMPORT = re.compile(rb'(?:from|import)\s*"\./([\w.\-]+\.js)"')


def static_js_dir() -> Path:
    import streamlit

    return Path(streamlit.__file__).parent / "static" / "static" / "js"


def module_closure(js_dir: Path, names: tuple[str, ...] = FIRST_PAGE_MODULES) -> list[str]:
    """File names of the modules called `names` (`<name>.<hash>.js`) and of every module they
    import statically, in a stable order; the lazily imported ones (`import("./x.js")`) are left
    for when they are needed."""
    files = {path.name: path for path in js_dir.glob("*.js")} if js_dir.is_dir() else {}
    todo = [file for name in names for file in sorted(files) if re.fullmatch(rf"{re.escape(name)}\.[\w\-]+\.js", file)]
    seen: list[str] = []
    while todo:
        file = todo.pop(0)
        if file in seen or file not in files:
            continue
        seen.append(file)
        todo.extend(match.decode() for match in _STATIC_IMPORT.findall(files[file].read_bytes()))
    return seen


@lru_cache(maxsize=1)
def preload_tags() -> bytes:
    return "".join(f'<link rel="modulepreload" href="./static/js/{file}" />'
                   for file in module_closure(static_js_dir())).encode()


class PreloadMiddleware:
    """Pure ASGI middleware: adds `preload_tags()` to the head of the app's HTML page (any GET
    answered 200 with uncompressed text/html); everything else passes through untouched."""

    def __init__(self, app, tags=preload_tags):
        self.app = app
        self._tags = tags

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") != "GET":
            return await self.app(scope, receive, send)
        start: dict | None = None
        body: list[bytes] = []

        async def inject(message):
            nonlocal start
            if message["type"] == "http.response.start":
                headers = {k.lower(): v for k, v in message.get("headers") or []}
                if message.get("status") == 200 and b"text/html" in headers.get(b"content-type", b"") \
                        and b"content-encoding" not in headers:
                    start = message  # held until the whole page is here
                    return None
                return await send(message)
            if start is None or message["type"] != "http.response.body":
                return await send(message)
            body.append(message.get("body", b""))
            if message.get("more_body"):
                return None
            page = b"".join(body).replace(b"</head>", self._tags() + b"</head>", 1)
            headers = [(k, v) for k, v in start.get("headers") or [] if k.lower() != b"content-length"]
            await send({**start, "headers": headers + [(b"content-length", str(len(page)).encode())]})
            return await send({"type": "http.response.body", "body": page})

        return await self.app(scope, receive, inject)
