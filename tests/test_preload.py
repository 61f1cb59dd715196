"""ui/preload.py: the app's HTML names the first page's modules (and what they import) for the
browser to fetch at once; other responses pass through unchanged."""

from __future__ import annotations

import asyncio

from stripe_analytics.ui.preload import PreloadMiddleware, module_closure, preload_tags, static_js_dir

PAGE = b"<html><head><title>Streamlit</title></head><body></body></html>"


def test_the_closure_follows_static_imports_only(tmp_path):
    (tmp_path / "Metric.abc1.js").write_bytes(b'import{a}from"./shared.x9.js";import"./side.k.js";'
                                              b'const later=()=>import("./lazy.q.js");')
    (tmp_path / "shared.x9.js").write_bytes(b'export{a};import{b}from"./deep.z.js";')
    (tmp_path / "deep.z.js").write_bytes(b"export const b=1;")
    (tmp_path / "side.k.js").write_bytes(b'import{a}from"./shared.x9.js";')  # a cycle back
    (tmp_path / "lazy.q.js").write_bytes(b"export const c=1;")
    (tmp_path / "MetricOther.abc2.js").write_bytes(b"")  # another component's name
    assert module_closure(tmp_path, ("Metric",)) == ["Metric.abc1.js", "shared.x9.js", "side.k.js", "deep.z.js"]
    assert module_closure(tmp_path, ("Nothing",)) == []
    assert module_closure(tmp_path / "missing", ("Metric",)) == []


def test_streamlit_still_names_the_first_pages_modules_as_expected():
    found = module_closure(static_js_dir())
    for name in ("Selectbox", "DateInput", "Metric", "ArrowVegaLiteChart"):
        assert any(file.startswith(name + ".") for file in found), name
    assert all((static_js_dir() / file).is_file() for file in found)
    assert preload_tags().count(b'rel="modulepreload"') == len(found)


def _served(content_type: bytes, body: bytes, *, method: str = "GET", chunks: int = 1, encoding: bytes | None = None,
            status: int = 200):
    async def app(scope, receive, send):
        headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
        if encoding:
            headers.append((b"content-encoding", encoding))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        size = -(-len(body) // chunks)
        for i in range(chunks):
            await send({"type": "http.response.body", "body": body[i * size:(i + 1) * size],
                        "more_body": i < chunks - 1})

    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    middleware = PreloadMiddleware(app, tags=lambda: b'<link rel="modulepreload" href="./static/js/M.1.js" />')
    asyncio.run(middleware({"type": "http", "method": method, "path": "/"}, None, send))
    headers = dict(sent[0]["headers"])
    return headers, b"".join(m.get("body", b"") for m in sent[1:])


def test_the_html_page_gets_the_tags_in_its_head_with_a_right_length():
    headers, body = _served(b"text/html; charset=utf-8", PAGE, chunks=3)
    assert body == PAGE.replace(b"</head>", b'<link rel="modulepreload" href="./static/js/M.1.js" /></head>')
    assert int(headers[b"content-length"]) == len(body)


def test_other_responses_pass_through_untouched():
    script = b"console.log('</head>')"
    assert _served(b"text/javascript", script) == ({b"content-type": b"text/javascript",
                                                     b"content-length": str(len(script)).encode()}, script)
    assert _served(b"text/html", PAGE, method="HEAD")[1] == PAGE
    assert _served(b"text/html", b"gzipped</head>", encoding=b"gzip")[1] == b"gzipped</head>"
    assert _served(b"text/html", b"", status=304) == ({b"content-type": b"text/html", b"content-length": b"0"}, b"")
