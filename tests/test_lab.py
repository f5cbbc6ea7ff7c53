"""`make lab` starts JupyterLab from the project's environment on 127.0.0.1, serves the chapters as
notebooks (both the generated .ipynb and, through jupytext, the .py sources), and has the ipywidgets
and jupytext extensions enabled. The `lab` fixture (shared with test_browser.py) is in conftest.py."""
import json
import re
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def get(url: str):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, r.read().decode()


def test_lab_serves_every_chapter_as_a_notebook(lab):
    listing = json.loads(get(lab + "/api/contents/")[1])
    names = {item["name"] for item in listing["content"]}
    chapters = sorted(p.stem for p in (ROOT / "chapters").glob("[0-9][0-9]_*.py"))
    for stem in chapters:
        assert f"{stem}.ipynb" in names, stem
        for name in (f"{stem}.ipynb", f"{stem}.py"):
            model = json.loads(get(f"{lab}/api/contents/{name}?type=notebook&content=1")[1])
            assert model["type"] == "notebook" and len(model["content"]["cells"]) > 5, name


def test_lab_has_widgets_and_jupytext_extensions(lab):
    status, page = get(lab + "/lab")
    config = json.loads(re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
                                  page, re.S).group(1))
    extensions = {e["name"] for e in config["federated_extensions"]}
    assert {"@jupyter-widgets/jupyterlab-manager", "jupyterlab-jupytext"} <= extensions
    assert not set(config.get("disabledExtensions", [])) & extensions


def test_lab_started_by_the_tests_never_autosaves_a_chapter(lab):
    settings = json.loads(get(lab + "/lab/api/settings/@jupyterlab/docmanager-extension:plugin")[1])
    assert settings["settings"]["autosave"] is False
