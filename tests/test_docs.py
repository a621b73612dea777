"""The documentation a reader of the repository gets: every link in it leads somewhere that exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "bench" / "README.md"]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*$", re.MULTILINE)
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def anchors(markdown: str) -> set[str]:
    """The anchors GitHub makes for a document's headings."""
    found = set()
    for heading in HEADING.findall(FENCE.sub("", markdown)):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        found.add(slug)
    return found


def local_links(path: Path) -> list[str]:
    """Links from a document to files or headings of this repository."""
    text = FENCE.sub("", path.read_text())
    return [target for target in LINK.findall(text) if not re.match(r"[a-z]+:", target)]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_local_link_resolves(document: Path) -> None:
    broken = []
    for target in local_links(document):
        file_part, _, anchor = target.partition("#")
        linked = (document.parent / file_part).resolve() if file_part else document
        if not linked.exists() or (
            anchor and linked.suffix == ".md" and anchor not in anchors(linked.read_text())
        ):
            broken.append(target)
    assert broken == []


def test_readme_links_the_architecture_and_cites_no_outside_file() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "docs/architecture.md" in local_links(ROOT / "README.md")
    # The design document lives in the repository; a reader has no other architecture file.
    assert "ARCHITECTURE" not in readme
    assert "ARCHITECTURE.md" not in (ROOT / "docs" / "architecture.md").read_text()
