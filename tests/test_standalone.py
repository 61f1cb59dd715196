"""The repository stands alone: no file the project runs or tests reads anything outside it,
by a relative path that climbs out of it or by an absolute path of some machine."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE_SUFFIXES = {".py", ".sh", ".toml", ".cfg", ".ini", ".txt", ".lock", ".json", ".yml", ".yaml"}
SOURCE_NAMES = {"Makefile", "run"}
SKIPPED_PARTS = {".git", ".venv", "data", "build", "test-artifacts", "__pycache__", ".pytest_cache", ".hypothesis"}

# Absolute paths of a machine (a checkout lives anywhere) and the folder beside the checkout.
ABSOLUTE = re.compile(r"""(?:^|["'\s(=])(/(?:work|home|root|Users|mnt|srv|opt)/[\w.-]+)""")
BESIDE = re.compile(r"""\.\.[/\\]+(?:\.\.[/\\]+)*shared\b|["']shared["']\s*[,/)]""")
PARENTS = re.compile(r"Path\(__file__\)(?:\.resolve\(\))?\.parents\[(\d+)\]")
PARENT_CHAIN = re.compile(r"Path\(__file__\)(?:\.resolve\(\))?((?:\.parent)+)\b")
DIRNAME_UP = re.compile(r"dirname\(__file__\)\s*,\s*((?:[\"']\.\.[\"']\s*,?\s*)+)")
# Above the repository's root (ROOT, as the tests and benchmarks name it), or above the current folder
# (`make` runs everything from the root).
ROOT_UP = re.compile(r"""\bROOT\b(?:\.resolve\(\))?(?:\.parents?\b|\s*(?:/|,)\s*["']\.\.["'])""")
CWD_UP = re.compile(r"""\b(?:open|Path|PurePath|chdir|connect|run_path|listdir|scandir|copy|copy2|copyfile|copytree)"""
                    r"""\(\s*[rbuf]?["']\.\.(?:[/\\]|["'])""")
# A scratch folder shared by every checkout on the machine (the tests' SQL-console cases name /tmp only as
# destinations the console must refuse, so this applies to what the project runs, not to tests/).
SHARED_SCRATCH = re.compile(r"""(?:^|["'\s(=])(/tmp/[\w.-]+)""")


def project_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True)
    if listed.returncode == 0:
        names = [ROOT / line for line in listed.stdout.splitlines()]
    else:  # an exported tree without git
        names = [Path(folder) / name for folder, _, files in os.walk(ROOT) for name in files]
    return [path for path in names if path.is_file()
            and not SKIPPED_PARTS & set(path.relative_to(ROOT).parts)
            and (path.suffix in SOURCE_SUFFIXES or path.name in SOURCE_NAMES)
            and "fixtures" not in path.relative_to(ROOT).parts]


def outside_references(path: Path, text: str) -> list[str]:
    """Lines of `text` (the file `path` of the repository) that name a place outside the repository."""
    depth = len(path.relative_to(ROOT).parts) - 1  # folders between the root and the file
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        reasons = [f"absolute path {m.group(1)}" for m in ABSOLUTE.finditer(line)]
        reasons += ["the folder beside the repository" for _ in BESIDE.finditer(line)]
        reasons += [f"parents[{m.group(1)}] climbs out" for m in PARENTS.finditer(line) if int(m.group(1)) > depth]
        reasons += ["a .parent chain climbs out" for m in PARENT_CHAIN.finditer(line)
                    if m.group(1).count(".parent") > depth + 1]
        reasons += ["'..' from __file__ climbs out" for m in DIRNAME_UP.finditer(line)
                    if m.group(1).count("..") > depth]
        reasons += ["climbs above the repository's root" for _ in ROOT_UP.finditer(line)]
        reasons += ["climbs above the current folder" for _ in CWD_UP.finditer(line)]
        if path.relative_to(ROOT).parts[0] != "tests":
            reasons += [f"a folder shared by every checkout {m.group(1)}" for m in SHARED_SCRATCH.finditer(line)]
        found += [f"{path.relative_to(ROOT)}:{number}: {reason}: {line.strip()}" for reason in reasons]
    return found


def test_no_project_file_refers_to_a_path_outside_the_repository():
    files = project_files()
    assert any(path.name == "stripe_fixtures.py" for path in files) and len(files) > 50
    problems = [problem for path in files if path.resolve() != Path(__file__).resolve()
                for problem in outside_references(path, path.read_text(encoding="utf-8", errors="replace"))]
    assert not problems, "\n".join(problems)


def test_the_check_finds_what_the_repository_used_to_do():
    tests_file = ROOT / "tests" / "test_x.py"
    source_file = ROOT / "src" / "stripe_analytics" / "ui" / "x.py"
    climbing = [
        (tests_file, 'json.load(open(os.path.join(os.path.dirname(__file__), "..", "..", "sh' 'ared", "f.json")))'),
        (tests_file, 'Path(__file__).resolve().parents[2] / "sh' 'ared" / "stripe-fixtures"'),
        (tests_file, '    "/' 'work/shared/stripe-fixtures/fixtures3.json",'),
        (tests_file, 'Path(__file__).parent.parent.parent / "x"'),
        (source_file, 'DOC = Path(__file__).resolve().parents[4] / "docs"'),
        (tests_file, "open('../" "shared/specs/fx.md')"),
        (tests_file, 'FIXTURES = ROOT.parent / "sh' 'ared"'),
        (tests_file, 'FIXTURES = ROOT / ".." / "other" / "f.json"'),
        (tests_file, 'os.path.join(ROOT, "..", "x")'),
        (tests_file, 'json.loads(Path("../other/f.json").read_text())'),
        (tests_file, 'open("../other/f.json")'),
        (ROOT / "bench" / "bench_x.py", 'DEFAULT_DIR = Path("/' 'tmp/stripe-analytics-bench")'),
    ]
    for path, line in climbing:
        assert outside_references(path, line), line
    inside = [
        (tests_file, 'ROOT = Path(__file__).resolve().parents[1]'),
        (source_file, 'ROOT = Path(__file__).resolve().parents[3]'),
        (tests_file, 'Path(__file__).parent / "fixtures"'),
        (tests_file, 'shared = new_app()'),
        (tests_file, 'DATA = ROOT / "data" / "bench"'),
        (tests_file, 'assert dashboard_url("customer", "../x") is None'),
        (tests_file, 'console.run("COPY customers TO \'/' 'tmp/stolen.csv\'")'),
    ]
    for path, line in inside:
        assert not outside_references(path, line), line


def test_stripes_example_objects_are_the_named_source_unchanged_with_its_licence():
    folder = ROOT / "tests" / "fixtures" / "stripe"
    data = (folder / "fixtures3.json").read_bytes()
    blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # git's id of the file's content
    readme = (folder / "README.md").read_text(encoding="utf-8")
    assert "stripe/openapi" in readme and "openapi/fixtures3.json" in readme and blob in readme, blob
    assert re.search(r"\b\d{4}-\d{2}-\d{2}\.[a-z]+\b", readme)  # the API version the shapes follow
    licence = (folder / "LICENSE").read_text(encoding="utf-8")
    assert licence.startswith("The MIT License") and "Stripe, Inc." in licence
