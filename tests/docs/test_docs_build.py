"""Cheap checks of the documentation site's configuration (the strict build in .ci/run is the real one).

``mkdocs build --strict`` fails on broken links and on code blocks that raise, but a page that is
in ``docs/`` and not in the nav is only an INFO line: these tests catch that, and a nav entry or a
reference-handler path that points nowhere, without building the site (~20 s).
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
CONFIG = (ROOT / "mkdocs.yml").read_text()


def nav_pages() -> list[str]:
    """The page paths in the (uncommented) nav of mkdocs.yml."""
    nav = CONFIG[CONFIG.index("\nnav:") :]
    return re.findall(r"^\s*-\s*(?:[^:#\n]+:\s*)?([\w./-]+\.md)\s*$", nav, flags=re.M)


def test_every_nav_entry_exists() -> None:
    pages = nav_pages()
    assert "index.md" in pages and "getting-started.md" in pages
    missing = [p for p in pages if not (DOCS / p).is_file()]
    assert not missing, f"mkdocs.yml's nav names pages that do not exist: {missing}"


def test_every_page_is_in_the_nav() -> None:
    pages = set(nav_pages())
    orphans = sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md") if str(p.relative_to(DOCS)) not in pages)
    assert not orphans, f"pages under docs/ that the site's nav does not list (add them to mkdocs.yml): {orphans}"


def test_reference_handler_paths_exist() -> None:
    paths = re.search(r"paths: \[(.*?)\]", CONFIG)
    assert paths is not None
    for path in paths.group(1).split(","):
        assert (ROOT / path.strip()).is_dir(), path


def test_included_files_exist() -> None:
    for page in DOCS.rglob("*.md"):
        for included in re.findall(r'^--8<-- "([^"]+)"', page.read_text(), flags=re.M):
            assert (ROOT / included).is_file(), f"{page.name} includes {included}, which does not exist"
