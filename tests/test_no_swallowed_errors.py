"""No error is swallowed: a handler that catches everything (`except Exception`,
`except BaseException`, a bare `except`) re-raises, logs, or hands the exception object on to
whoever reports it (a command prints it on stderr). A fallback for a known failure names that
failure instead."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted([*(ROOT / "src" / "stripe_analytics").rglob("*.py"), ROOT / "app.py", ROOT / "serve.py",
                  *(ROOT / "pages").glob("*.py")])
BROAD = {"Exception", "BaseException"}
LOGGERS = {"log", "LOG", "_log", "logger", "LOGGER", "logging"}
LOG_CALLS = {"exception", "error", "warning", "info", "debug", "critical"}
WORDS_OF = {"str", "repr", "type", "format", "isinstance", "getattr", "len", "print"}  # read the error, do not hand it on


def _catches_everything(handler: ast.ExceptHandler) -> bool:
    caught = handler.type
    if caught is None:
        return True
    names = caught.elts if isinstance(caught, ast.Tuple) else [caught]
    return any(isinstance(n, ast.Name) and n.id in BROAD for n in names)


def _to_stderr(node: ast.AST) -> bool:
    """print(..., file=sys.stderr): a command's own error line (the CLI has no other log)."""
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print" and any(
        k.arg == "file" and isinstance(k.value, ast.Attribute) and k.value.attr == "stderr" for k in node.keywords)


def _logs(node: ast.AST) -> bool:
    if _to_stderr(node):
        return True
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in LOG_CALLS):
        return False
    owner = node.func.value
    if isinstance(owner, ast.Call):  # logging.getLogger(...).exception(...)
        owner = owner.func.value if isinstance(owner.func, ast.Attribute) else owner.func
    return isinstance(owner, ast.Name) and owner.id in LOGGERS


def _hands_on(node: ast.AST, bound: str | None) -> bool:
    """The exception object itself (not its words) is passed, stored or returned."""
    if bound is None:
        return False
    if isinstance(node, ast.Call):
        if isinstance(node.func, ast.Name) and node.func.id in WORDS_OF:
            return False
        return any(isinstance(a, ast.Name) and a.id == bound for a in node.args) or any(
            isinstance(a, ast.Tuple) and any(isinstance(e, ast.Name) and e.id == bound for e in a.elts)
            for a in node.args)
    if isinstance(node, (ast.Assign, ast.Return)):
        return isinstance(node.value, ast.Name) and node.value.id == bound
    return False


def _handled(handler: ast.ExceptHandler) -> bool:
    for node in ast.walk(ast.Module(body=handler.body, type_ignores=[])):
        if isinstance(node, ast.Raise) or _logs(node) or _hands_on(node, handler.name):
            return True
    return False


def test_no_handler_that_catches_everything_swallows_the_error():
    swallowed = []
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ExceptHandler) and _catches_everything(node) and not _handled(node):
                swallowed.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not swallowed, "these handlers catch everything and neither re-raise, log nor hand the error on: " \
        + ", ".join(swallowed)


def test_the_check_itself_tells_a_swallowed_error_from_a_handled_one():
    def verdict(code: str) -> bool:
        handler = next(n for n in ast.walk(ast.parse(code)) if isinstance(n, ast.ExceptHandler))
        return _handled(handler)

    assert not verdict("try:\n    f()\nexcept Exception:\n    pass\n")
    assert not verdict("try:\n    f()\nexcept Exception as error:\n    show(str(error))\n")
    assert not verdict("try:\n    f()\nexcept Exception as error:\n    print(error)\n")
    assert verdict("try:\n    f()\nexcept Exception:\n    log.exception('f failed')\n")
    assert verdict("try:\n    f()\nexcept BaseException:\n    cleanup()\n    raise\n")
    assert verdict("try:\n    f()\nexcept Exception as error:\n    job.set_exception(error)\n")
