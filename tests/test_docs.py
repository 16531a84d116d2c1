"""The documentation: every relative link in README.md and docs/ leads somewhere in this repository."""

import re

import pytest

from tests.conftest import ROOT

DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "bench" / "README.md"]
# [text](target): the target up to the closing parenthesis (none of ours holds spaces).
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def anchors(document):
    """The anchors GitHub makes of a document's headings: lower case, punctuation gone, spaces as hyphens."""
    text = re.sub(r"```.*?```", "", document.read_text(), flags=re.S)
    found = set()
    for heading in re.findall(r"^#{1,6} (.+)$", text, re.M):
        found.add(re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-"))
    return found


def relative_links(document):
    text = re.sub(r"```.*?```", "", document.read_text(), flags=re.S)
    return [target for target in LINK.findall(text) if not re.match(r"[a-z][a-z0-9+.-]*:", target)]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_relative_link_resolves(document):
    broken = []
    for target in relative_links(document):
        path, _, anchor = target.partition("#")
        # "/x" is the repository's root (as GitHub reads it); "x" is beside the document.
        linked = (ROOT / path[1:] if path.startswith("/") else document.parent / path).resolve() if path else document
        if (
            not linked.exists()
            or ROOT not in linked.parents
            and linked != ROOT
            or anchor
            and linked.suffix == ".md"
            and anchor not in anchors(linked)
        ):
            broken.append(target)
    assert broken == []


def test_the_readme_fits_on_a_few_screens():
    assert len((ROOT / "README.md").read_text().splitlines()) < 200


def test_the_contract_lives_in_the_repository():
    """Nothing points outside it (a file of ours the users of this repository do not have)."""
    for document in DOCUMENTS:
        assert "../shared" not in document.read_text(), document
    assert "## Endpoints" in (ROOT / "docs" / "api.md").read_text()
