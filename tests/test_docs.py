"""The documentation's own rules (issue 10 item 8): a short README, links that resolve, no pointer outside the repo.

Pure file reads: part of the fast ``pytest -m "not slow"`` loop.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
# An absolute path into the machine this project was built on (a notes file, a sibling checkout): meaningless in a
# clone. Written in two parts so that this file does not match itself.
OUTSIDE = re.compile(r"(^|[^.\w])/(" + "work|farm" + r")/")
SOURCE_DIRS = ("agent", "tests", "bench", "sql", "build", ".github", ".ci")
SKIP_DIRS = {"cache", "work", "__pycache__"}


def test_readme_is_at_most_250_lines_and_starts_with_the_two_commands() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 250, len(lines)
    head = "\n".join(lines[:12])
    assert "build/dev.sh demo" in head and "build/dev.sh test" in head


def test_the_docs_by_reader_exist_and_the_readme_links_them() -> None:
    text = README.read_text(encoding="utf-8")
    for name in ("it-deployment", "turnstile-kit", "troubleshooting", "engine", "benchmarks", "architecture"):
        assert (ROOT / "docs" / f"{name}.md").is_file(), name
        assert f"docs/{name}.md" in text, name


def test_relative_links_resolve() -> None:
    broken = []
    for doc in [README, *DOCS]:
        for target in LINK.findall(doc.read_text(encoding="utf-8")):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (doc.parent / target).resolve().exists():
                broken.append(f"{doc.relative_to(ROOT)} -> {target}")
    assert not broken, broken


def _repo_files() -> list[Path]:
    files = [ROOT / "agent.spec", ROOT / "pyproject.toml", ROOT / "requirements.txt", README, *DOCS]
    for top in SOURCE_DIRS:
        for path in (ROOT / top).rglob("*"):
            rel = path.relative_to(ROOT).parts
            if path.is_file() and not SKIP_DIRS & set(rel[1:-1]) and path.suffix not in {".png", ".ico", ".pyc"}:
                files.append(path)
    return files


def test_nothing_points_outside_the_repository() -> None:
    hits = []
    for path in _repo_files():
        if not path.is_file():
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if OUTSIDE.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not hits, "\n".join(hits)


def test_the_log_rotation_is_stated_as_the_code_does_it() -> None:
    from agent import logging_setup

    assert (logging_setup.MAX_BYTES, logging_setup.BACKUP_COUNT) == (1_000_000, 5)
    text = " ".join((ROOT / "docs" / "it-deployment.md").read_text(encoding="utf-8").split())
    assert "1 MB (1,000,000 bytes) per file, the current file plus 5 older ones" in text
    assert "× 5" not in text and "× 6" not in text
