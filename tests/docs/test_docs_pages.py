"""The README is a front door that scripts never rewrite; the measured figures live in docs pages, each block in the
page its generator writes, and the page names the command that regenerates it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
_BLOCK = re.compile(r"<!-- BEGIN GENERATED: ([\w-]+) -->")

#: Every GENERATED block outside the model card: its page, and the command the page names to regenerate it.
BLOCKS = {
    "model": ("docs/model.md", "make model-report"),
    "trust": ("docs/model.md", "make trust"),
    "trust-cost": ("docs/model.md", "--doc docs/model.md --block trust-cost"),
    "sources": ("docs/model.md", "make model-report"),
    "goemotions": ("docs/model.md", "make model-report"),
    "everyday-misses": ("docs/model.md", "make model-report"),
    "goemotions-labels": ("docs/model.md", "python -m scripts.model.label_table"),
    "recipe": ("docs/model.md", "python -m scripts.model.compare_runs"),
    "bench": ("docs/performance.md", "make bench"),
    "right-size": ("docs/performance.md", "make right-size"),
    "bulk-aws": ("docs/performance.md", "make right-size"),
    "request-cost": ("docs/performance.md", "make request-cost"),
    "bulk": ("docs/classify.md", "--doc docs/classify.md"),
    "code-compare": ("docs/architecture.md", "--doc docs/architecture.md --block code-compare"),
    "image": ("docs/development.md", "make image-test"),
    "init-breakdown": ("docs/cold-start.md", "make cold-start"),
}


def test_the_readme_is_short_and_holds_no_generated_block() -> None:
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 250
    assert not _BLOCK.findall(text)


def test_the_readme_links_every_docs_page() -> None:
    linked = set(re.findall(r"\]\((docs/[\w.-]+\.md)", README.read_text(encoding="utf-8")))
    pages = {f"docs/{page.name}" for page in (ROOT / "docs").glob("*.md")}
    assert pages <= linked, sorted(pages - linked)


@pytest.mark.parametrize("block", sorted(BLOCKS))
def test_each_block_is_in_its_generators_page_which_names_the_command(block: str) -> None:
    page, command = BLOCKS[block]
    text = (ROOT / page).read_text(encoding="utf-8")
    assert _BLOCK.findall(text).count(block) == 1
    assert command in text.replace("\n", " ")


def test_no_page_holds_a_block_nobody_writes() -> None:
    found = {block for page in (ROOT / "docs").glob("*.md") for block in _BLOCK.findall(page.read_text("utf-8"))}
    reliability = {"fuzz", "corpus", "faults", "security", "load"}  # scripts/perf/reliability_report.py, its own page
    assert found - reliability == set(BLOCKS)


def test_the_make_targets_write_into_those_pages() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target, page in (
        ("trust", "docs/model.md"),
        ("model-report", "docs/model.md"),
        ("right-size", "docs/performance.md"),
        ("bench", "docs/performance.md"),
        ("request-cost", "docs/performance.md"),
    ):
        recipe = re.search(rf"^{target}:.*?(?=^\S)", makefile, flags=re.MULTILINE | re.DOTALL)
        assert recipe and f"--doc {page}" in recipe.group(0), target
