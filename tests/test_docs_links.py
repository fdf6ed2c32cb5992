"""The README and docs/ hold together: every relative link resolves to a file of the repository (its anchor to a
heading of that file), nothing points outside the repository, no section is there twice, and every setting the
exporter reads is documented."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^(#{1,6}) +(.+?) *#*$")
FENCE = re.compile(r"^(```|~~~)")


def _prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks (a `#` there is a comment, a `[x](y)` not a link)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line.strip()):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def headings(text: str) -> list[str]:
    return [m.group(2) for line in _prose_lines(text) if (m := HEADING.match(line))]


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lowercase, punctuation dropped (hyphens and underscores kept), spaces to -."""
    text = re.sub(r"[`*]", "", heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    seen: Counter[str] = Counter()
    out = set()
    for heading in headings(text):
        base = slug(heading)
        out.add(base if not seen[base] else f"{base}-{seen[base]}")
        seen[base] += 1
    return out


def links(page: Path) -> list[str]:
    return [m.group(1) for line in _prose_lines(page.read_text()) for m in LINK.finditer(line)]


def test_the_slug_follows_githubs_rules() -> None:
    assert slug("`plan`, `run --plan` and the change guard") == "plan-run---plan-and-the-change-guard"
    assert slug("Figures beside DuckDB's") == "figures-beside-duckdbs"
    assert slug("The export and `make bench`") == "the-export-and-make-bench"
    assert anchors("## A\n\n## A\n```\n# not a heading\n```\n") == {"a", "a-1"}


def test_the_readme_is_a_page_a_newcomer_reads_in_minutes() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert 80 <= len(lines) <= 170
    assert "make demo" in "\n".join(lines) and "make test" in "\n".join(lines)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves_inside_the_repository(page: Path) -> None:
    broken = []
    for target in links(page):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http(s), mailto: not a file of the repository
            continue
        path_part, _, anchor = target.partition("#")
        resolved = (page.parent / path_part).resolve() if path_part else page
        if ROOT not in resolved.parents and resolved != ROOT:
            broken.append(f"{target}: outside the repository")
        elif not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and (resolved.suffix != ".md" or anchor not in anchors(resolved.read_text())):
            broken.append(f"{target}: no heading with anchor #{anchor}")
    assert broken == []


def test_the_pages_link_each_other() -> None:
    readme_links = {t.partition("#")[0] for t in links(ROOT / "README.md")}
    index_links = {t.partition("#")[0] for t in links(ROOT / "docs" / "README.md")}
    docs = {p.name for p in PAGES if p.parent.name == "docs" and p.name != "README.md"}

    assert {f"docs/{name}" for name in docs} <= readme_links
    assert docs <= index_links


def test_no_section_is_there_twice() -> None:
    every = Counter(h.lower() for page in PAGES for h in headings(page.read_text()))

    assert [h for h, n in every.items() if n > 1] == []


def test_no_page_names_a_path_outside_the_repository() -> None:
    outside = [f"{page.name}: {m.group(0)}" for page in PAGES
               for m in re.finditer(r"(?<![\w.])(?:/work/|/home/|\.\./\.\./)\S*", page.read_text())]
    assert outside == []


def test_every_setting_the_exporter_reads_is_in_the_command_line_docs() -> None:
    code = "\n".join(p.read_text() for p in (ROOT / "exporter").rglob("*.py"))
    settings = set(re.findall(r"\b(?:MO|PEAK)_[A-Z_]+[A-Z]\b", code))
    cli_md = (ROOT / "docs" / "cli.md").read_text()

    assert {"PEAK_API_KEY", "MO_DUCKDB_PATH", "MO_ACK_FIELDS"} <= settings
    assert sorted(s for s in settings if f"`{s}`" not in cli_md) == []
