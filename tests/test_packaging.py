"""Installed, not only checked out: the wheel built from the repository's tracked files carries
the dashboard (app.py, serve.py, pages/, docs/metrics.md, .streamlit/config.toml), and
`stripe-analytics serve` from a fresh virtual environment outside the repository serves it,
warm-up included, with the definitions of the package's own docs/metrics.md and the settings of
its own .streamlit/config.toml (this machine only)."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.app_support import app_env, data_dir_with_demo, free_port, overview_in_chromium, serve_app

ROOT = Path(__file__).resolve().parents[1]


def test_every_subpackage_is_listed_for_the_wheel():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {".".join(init.parent.relative_to(ROOT / "src").parts)
               for init in (ROOT / "src").rglob("__init__.py")}
    assert on_disk <= listed, sorted(on_disk - listed)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of the files git tracks, as a fresh clone has them."""
    work = tmp_path_factory.mktemp("wheel")
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    clone = work / "clone"
    for name in filter(None, tracked.decode().split("\0")):
        if (ROOT / name).is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, clone / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(work / "dist"), str(clone)], check=True, cwd=work)
    return next((work / "dist").glob("stripe_analytics-*.whl"))


def test_the_wheel_carries_the_dashboard(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    app = "stripe_analytics/webapp/"
    for needed in ("app.py", "serve.py", "docs/metrics.md", ".streamlit/config.toml", "pages/overview_page.py",
                   "pages/mrr.py", "assets/icon.png"):
        assert app + needed in names, needed
    page_files = {p.name for p in (ROOT / "pages").glob("*.py")}
    assert {n.removeprefix(app + "pages/") for n in names if n.startswith(app + "pages/")} == page_files
    assert not any(n.startswith(("tests/", app + "tests/", app + "data/", app + "bench/")) for n in names)
    assert not any("secrets.toml" in n and not n.endswith(".example") for n in names)


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh virtual environment outside the repository with the wheel installed; the
    third-party dependencies are the test environment's own (no download)."""
    venv = tmp_path_factory.mktemp("venv") / "env"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
                   check=True)
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    (Path(purelib) / "test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


def test_the_installed_package_uses_its_own_copy(installed, tmp_path):
    found = subprocess.run(
        [str(installed / "bin" / "python"), "-c",
         "from stripe_analytics import app_files; from stripe_analytics.ui import definitions;"
         "print(app_files.app_root()); print(len(definitions.definitions()))"],
        capture_output=True, text=True, check=True, cwd=tmp_path, env={**os.environ, "PYTHONPATH": ""})
    root, count = found.stdout.split()
    assert Path(root).is_relative_to(installed) and not Path(root).is_relative_to(ROOT)
    assert int(count) == len(__import__("stripe_analytics.ui.definitions", fromlist=["CATALOG"]).CATALOG)


def test_bad_serve_arguments_are_refused(installed, tmp_path):
    for args, word in ((["--port", "70000"], "--port"), (["--port", "web"], "--port"),
                       (["--address", "not an address"], "--address")):
        done = subprocess.run([str(installed / "bin" / "stripe-analytics"), "serve", *args], capture_output=True,
                              text=True, cwd=tmp_path, timeout=60)
        assert done.returncode == 2 and word in done.stderr and "Traceback" not in done.stderr, done.stderr


def listening_addresses(port: int) -> set[str]:
    """The addresses a server listens on at `port`, from the kernel's socket tables (Linux)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError):
            for row in Path(table).read_text().splitlines()[1:]:
                local, state = row.split()[1], row.split()[3]
                address, local_port = local.split(":")
                if state == "0A" and int(local_port, 16) == port:  # 0A: LISTEN
                    packed = bytes.fromhex(address)
                    # the kernel writes each 32-bit word in host (little-endian) order
                    words = b"".join(packed[i:i + 4][::-1] for i in range(0, len(packed), 4))
                    found.add(str(ipaddress.ip_address(words)))
    return found


@pytest.mark.browser
def test_stripe_analytics_serve_from_the_installed_package_shows_the_overview(installed, tmp_path):
    from stripe_analytics.ui.definitions import definitions

    # The installed copy of docs/metrics.md is made to differ from the checkout's, so the page can
    # only show this wording if the served app reads its definitions from the package's own copy.
    installed_doc = next(installed.glob("lib/python*/site-packages/stripe_analytics/webapp/docs/metrics.md"))
    doc = installed_doc.read_text(encoding="utf-8")
    assert "\n## ARR\n\n" in doc
    installed_doc.write_text(doc.replace("\n## ARR\n\n", "\n## ARR\n\nIn the installed package: ", 1),
                             encoding="utf-8")
    arr = definitions(installed_doc)["arr"]
    assert arr.startswith("In the installed package: ") and arr != definitions()["arr"]

    work = tmp_path / "elsewhere"
    data_dir = data_dir_with_demo(work / "data")
    env = app_env(data_dir, work)
    env.pop("PYTHONPATH", None)
    log_path = work / "serve.log"
    serve = str(installed / "bin" / "stripe-analytics")
    port = free_port()
    # No --address: the package's own .streamlit/config.toml keeps the server on this machine only.
    with serve_app(env, log_path, port=port, timeout=90, cwd=work,
                   command=lambda port: [serve, "serve", "--port", str(port)]) as url:
        assert listening_addresses(port) == {"127.0.0.1"}
        text, definitions_text = overview_in_chromium(url, "installed-overview.png")
        assert "Overview" in text and "MRR" in text and "Demo data" in text
        assert arr in definitions_text.replace("\n", " "), definitions_text
        served_log = log_path.read_text(errors="replace")
        assert "warm-up of Demo account" in served_log, served_log[-2000:]
        assert "Traceback" not in served_log, served_log[-3000:]
