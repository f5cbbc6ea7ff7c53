"""One table of contents: `chapters/toc.yml`. The README's contents table, every chapter's title and chapter
00's table must agree with it, so that the chapter list lives in one place."""
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = ROOT / "chapters"
TOC = yaml.safe_load((CHAPTERS / "toc.yml").read_text())["chapters"]


def status(entry) -> str:
    """A chapter is ready when toc.yml names its file and that file exists; else it is coming."""
    return "ready" if entry.get("file") and (CHAPTERS / entry["file"]).is_file() else "coming"


def table_rows(markdown: str, heading: str) -> list[list[str]]:
    """The cells of the first table after `heading` (a line of its own), header and rule left out."""
    lines = markdown.splitlines()
    start = lines.index(heading)
    rows = []
    for line in lines[start + 1:]:
        if line.startswith("#"):
            break
        if line.startswith("|"):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif rows:
            break
    assert len(rows) > 2, f"no table under {heading!r}"
    return [r for r in rows[1:] if not set("".join(r)) <= set("-: ")]


def expected_readme_row(entry) -> list[str]:
    return [entry["number"], entry["title"], entry["goal"], status(entry)]


def test_toc_numbers_run_from_00_without_gaps_and_every_entry_is_complete():
    assert [e["number"] for e in TOC] == [f"{i:02d}" for i in range(len(TOC))]
    for e in TOC:
        assert e["title"].strip() and e["goal"].strip(), e
        assert set(e) <= {"number", "title", "file", "goal"}, e
        if "file" in e:
            assert e["file"].startswith(e["number"] + "_"), e
            assert (CHAPTERS / e["file"]).is_file(), f"toc.yml names {e['file']}, which is not in chapters/"


def test_every_chapter_file_is_in_the_toc_with_its_title():
    files = sorted(p.name for p in CHAPTERS.glob("[0-9][0-9]_*.py"))
    assert files == sorted(e["file"] for e in TOC if "file" in e)
    by_file = {e["file"]: e for e in TOC if "file" in e}
    for name in files:
        text = (CHAPTERS / name).read_text()
        heading = next(line for line in text.splitlines() if re.match(r"# # ", line))
        entry = by_file[name]
        assert heading == f"# # {entry['number']} · {entry['title']}", f"{name}: {heading!r} against toc.yml"


def test_readme_contents_table_is_toc_yml():
    rows = table_rows((ROOT / "README.md").read_text(), "## Contents")
    expected = [expected_readme_row(e) for e in TOC]
    assert rows == expected, "README's contents table differs from chapters/toc.yml; it should read:\n" + \
        "\n".join("| " + " | ".join(r) + " |" for r in expected)


def chapter00_contents_cell() -> str:
    """The source of chapter 00's code cell that reads toc.yml."""
    import jupytext
    notebook = jupytext.read(CHAPTERS / "00_preface.py")
    found = [c.source for c in notebook.cells if c.cell_type == "code" and "toc.yml" in c.source]
    assert len(found) == 1, "chapter 00 should have one code cell that reads toc.yml"
    return found[0]


def test_chapter00_contents_are_made_from_toc_yml(monkeypatch):
    text = (CHAPTERS / "00_preface.py").read_text()
    # No hand-written copy of the table: no markdown line starting with a chapter number.
    assert not re.search(r"^# \| \d\d \|", text, re.M), "chapter 00 still has a hand-written contents table"
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda *objs, **kw: shown.extend(objs))
    monkeypatch.chdir(CHAPTERS)  # chapters run with chapters/ as their working directory
    namespace = {}
    exec(compile(chapter00_contents_cell(), "00_preface.py", "exec"), namespace)
    markdown = namespace["contents"]
    assert [getattr(obj, "data", None) for obj in shown] == [markdown], "the cell should display the table"
    lines = [line for line in markdown.splitlines() if re.match(r"\| \d\d \|", line)]
    assert len(lines) == len(TOC)
    for line, e in zip(lines, TOC):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        assert cells[:3] == [e["number"], e["title"], e["goal"]], line
        assert cells[3].strip("*") == status(e), line

