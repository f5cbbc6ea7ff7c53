"""`make lab` starts JupyterLab from the project's environment on 127.0.0.1, serves the chapters as
notebooks (both the generated .ipynb and, through jupytext, the .py sources), and has the ipywidgets
and jupytext extensions enabled."""
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, r.read().decode()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lab")
    env = dict(os.environ, **{k: str(tmp / k.lower()) for k in (
        "JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR", "JUPYTERLAB_SETTINGS_DIR", "JUPYTERLAB_WORKSPACES_DIR")})
    port = free_port()
    flags = ("--no-browser --allow-root --IdentityProvider.token= --ServerApp.password= "
             "--LabApp.news_url=None --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate")
    proc = subprocess.Popen(["make", "--no-print-directory", "lab", f"PORT={port}", f"LAB_FLAGS={flags}"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if get(base + "/api/status")[0] == 200:
                    break
            except OSError:
                time.sleep(0.5)
            if proc.poll() is not None:
                pytest.fail("make lab exited:\n" + proc.stdout.read())
        else:
            pytest.fail("JupyterLab did not answer on 127.0.0.1 within 60 s")
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


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
