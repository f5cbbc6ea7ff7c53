"""Build the static HTML book: every chapter executed, with its figures and math, readable offline.

    .venv/bin/python scripts/build_book.py [--out build/html] [--work build/book] [--only 00_preface.py ...]

The navigation and the landing page are made from chapters/toc.yml, the book's one table of contents:
chapters with a `file` are in the book, the others are listed as coming. `--chapters-dir` builds another
folder of chapters with its own toc.yml (the tests build a tiny one). jupyter-book 1.0 (Sphinx, no
network needed) executes each chapter's percent script with book/_config.yml. MathJax 3 is copied beside
the pages, so math renders with no network.
Open build/html/index.html in a browser.
"""
import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "book" / "_config.yml"
INTRO = (
    "A notebook-first textbook on diffusion models. Each chapter derives one idea, implements it in the "
    "simplest form you can follow, checks that form against the small package `diffusion_lite`, and then "
    "uses the package to go further. Every chapter runs on a 2-core CPU with no GPU and no network; every "
    "number and figure on these pages was computed when this book was built. To run a chapter yourself, "
    "download its notebook (the download button at the top of each chapter) or open `chapters/` with "
    "`make lab` from the repository."
)


def mathjax_folder() -> Path:
    """MathJax 3, from the pinned django-static-mathjax package (plain MathJax files; it needs no Django)."""
    try:
        import mathjax
    except ImportError:
        sys.exit("MathJax is missing, so math would not render offline: install the pinned requirements "
                 "(`make setup`, or `pip install -r requirements.txt`, which include django-static-mathjax).")
    return Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"


def landing_page(title: str, entries: list, in_book: set) -> str:
    lines = [f"# {title}", "", INTRO, "", "## Chapters", ""]
    for e in entries:
        name = f"{e['number']} · {e['title']}"
        if e.get("file") in in_book:
            lines.append(f"- {{doc}}`{name} <chapters/{Path(e['file']).stem}>`: {e['goal']}")
        elif e.get("file"):  # written, but left out of this build (--only)
            lines.append(f"- {name}: {e['goal']}")
        else:
            lines.append(f"- {name} (*coming*): {e['goal']}")
    return "\n".join(lines) + "\n"


def stage(work: Path, chapters_dir: Path, only=None) -> None:
    """Write the book's source folder: landing page, table of contents, and a link to the chapters.

    Sphinx reads documents only inside its source folder, and each chapter must run from chapters/ (it
    imports `checks` and reads ../benchmarks), so the folder links to chapters/ rather than copying it.
    """
    entries = yaml.safe_load((chapters_dir / "toc.yml").read_text())["chapters"]
    written = [e["file"] for e in entries if e.get("file")]
    chapters = only or written
    if not set(chapters) <= set(written):
        sys.exit(f"Unknown chapters {sorted(set(chapters) - set(written))}; the toc.yml lists {written}")
    title = yaml.safe_load(CONFIG.read_text())["title"]
    work.mkdir(parents=True, exist_ok=True)
    (work / "index.md").write_text(landing_page(title, entries, set(chapters)))
    toc = {"format": "jb-book", "root": "index",
           "chapters": [{"file": f"chapters/{Path(c).stem}"} for c in chapters]}
    (work / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False))
    link = work / "chapters"
    if link.is_symlink():
        link.unlink()
    link.symlink_to(chapters_dir, target_is_directory=True)


def build(out: Path, work: Path, chapters_dir: Path, only=None) -> None:
    mathjax = mathjax_folder()  # fail before executing anything
    stage(work, chapters_dir, only)
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    # --all: read (so execute) every chapter again; -W: a warning, such as a chapter that fails, fails the build.
    subprocess.run([str(jupyter_book), "build", str(work), "--path-output", str(work), "--config", str(CONFIG),
                    "--toc", str(work / "_toc.yml"), "--all", "-W", "--keep-going"], check=True)
    html = work / "_build" / "html"
    # The pages load tex-chtml.js, which loads its fonts and any TeX extension from beside it; leave out the
    # other bundles and the speech-rule engine (MathJax's accessibility menu), a third of the size.
    skip = shutil.ignore_patterns("mml-*", "tex-mml-*", "tex-svg*", "tex-chtml-full*", "node-main.js", "sre")
    shutil.copytree(mathjax, html / "_static" / "mathjax", ignore=skip, dirs_exist_ok=True)
    shutil.rmtree(out, ignore_errors=True)
    shutil.move(html, out)
    print(f"The book is in {out}/index.html")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "html", help="where the HTML goes")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "book", help="scratch folder for the build")
    parser.add_argument("--chapters-dir", type=Path, default=ROOT / "chapters", help="chapters and their toc.yml")
    parser.add_argument("--only", nargs="+", metavar="FILE", help="build only these chapters (default: all written)")
    args = parser.parse_args(argv)
    build(args.out.resolve(), args.work.resolve(), args.chapters_dir.resolve(), args.only)


if __name__ == "__main__":
    main()
