"""The README's *Development* section maps the modules: a new module gets its line there."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "stripe_analytics"


def _development_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^## Development\n(.*?)(?=^## |\Z)", text, flags=re.S | re.M)
    assert match, "README.md has no Development section"
    return match.group(1)


def test_every_module_and_subpackage_is_on_the_development_map():
    section = _development_section()
    named = set(re.findall(r"`([\w/.*]+)`", section))
    missing = []
    for path in sorted(PACKAGE.iterdir()):
        if path.name.startswith(("_", ".")) or path.name.endswith(".egg-info"):
            continue
        if path.is_dir() and (path / "__init__.py").exists():
            if f"{path.name}/" not in named:
                missing.append(f"{path.name}/")
        elif path.suffix == ".py" and path.name not in named and not (
                path.name.endswith("_cli.py") and "*_cli.py" in named):  # the command modules, as one line
            missing.append(path.name)
    assert not missing, f"not mapped in README's Development section: {', '.join(missing)}"
