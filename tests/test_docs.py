"""The documentation: a short README, and relative links that lead somewhere.

Fast checks on the Markdown files alone; the site itself is built by
``mkdocs build --strict`` in CI (``make docs-build``), which also checks anchors, the
navigation and the docstring references of the API reference.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOCS = REPO / "docs"
README_MAX_LINES = 250

LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
"""A Markdown inline link or image: ``[text](target)`` or ``![alt](target "title")``."""
FENCE = re.compile(r"^\s*(```|~~~).*?^\s*\1", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`[^`\n]*`")


def markdown_files() -> list[Path]:
    return [README, *sorted(DOCS.rglob("*.md"))]


def relative_links(text: str) -> list[str]:
    """Link targets that are paths in this repository (no URL, no in-page anchor)."""
    prose = CODE_SPAN.sub("", FENCE.sub("", text))
    targets = (m.group(1) for m in LINK.finditer(prose))
    return [t for t in targets if not re.match(r"^([a-z][a-z0-9+.-]*:|#|/)", t, re.I)]


def test_readme_is_short():
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines, at most {README_MAX_LINES}"


def test_readme_links_into_the_docs():
    links = relative_links(README.read_text(encoding="utf-8"))
    assert any(link.startswith("docs/") for link in links), links


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_point_at_existing_files(path: Path):
    missing = [
        link
        for link in relative_links(path.read_text(encoding="utf-8"))
        if not (path.parent / link.split("#", 1)[0]).exists()
    ]
    assert not missing, f"{path.relative_to(REPO)} links to missing files: {missing}"


class TestRelativeLinks:
    def test_finds_links_and_images_and_skips_urls_anchors_and_code(self):
        text = (
            "[a](docs/a.md) ![b](img/b.png) [c](c.md#part) [d](https://x.org) [e](#here)\n"
            "`[f](f.md)`\n```\n[g](g.md)\n```\n"
        )
        assert relative_links(text) == ["docs/a.md", "img/b.png", "c.md#part"]

    def test_every_docs_page_is_found(self):
        assert (DOCS / "index.md") in markdown_files()
        assert (DOCS / "reference" / "index.md") in markdown_files()
