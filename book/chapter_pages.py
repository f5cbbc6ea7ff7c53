"""Sphinx extension: what the theme does not do for our chapter pages, which are percent `.py` scripts.

- A download button for the executed notebook (.ipynb, with outputs). sphinx-book-theme adds one only
  for notebooks written as MyST markdown; we copy the notebook that myst-nb executed
  (`jupyter_execute/<page>.ipynb`, beside the HTML folder) into `_sources/` and tell the theme.
- No saved widget state: widgets cannot run on a static page, and the state of chapter 01's explorer
  would only repeat its figure, which the page already shows as a PNG.
"""
import shutil
from pathlib import Path

from myst_nb.sphinx_ import NbMetadataCollector


def add_notebook(app, pagename, templatename, context, doctree):
    executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if not executed.exists():  # not a notebook page (the landing page)
        return
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(executed, target)
    context["ipynb_source"] = f"{pagename}.ipynb"
    NbMetadataCollector.get_js_files(app.env, pagename).pop("ipywidgets_state", None)


def setup(app):
    # Before the theme's buttons (501) and myst-nb's per-page scripts (500).
    app.connect("html-page-context", add_notebook, priority=400)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
