import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")  # tests draw figures without a display

ROOT = Path(__file__).resolve().parent.parent
# JupyterLab exactly as `make lab` starts it, plus what a test needs: no browser, no token, no network
# (news and update checks off), and `window.jupyterapp` exposed for a browser test to read the app's state.
LAB_FLAGS = ("--no-browser --allow-root --IdentityProvider.token= --ServerApp.password= "
             "--LabApp.news_url=None --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate "
             "--LabApp.expose_app_in_browser=True")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """`make lab` on a free port with its settings in a temporary folder; yields the base URL."""
    tmp = tmp_path_factory.mktemp("lab")
    env = dict(os.environ, **{k: str(tmp / k.lower()) for k in (
        "JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR", "JUPYTERLAB_SETTINGS_DIR", "JUPYTERLAB_WORKSPACES_DIR")})
    # A test may edit a chapter in the browser: never save it (jupytext would write the edit into the .py).
    docmanager = tmp / "jupyterlab_settings_dir" / "@jupyterlab" / "docmanager-extension"
    docmanager.mkdir(parents=True)
    (docmanager / "plugin.jupyterlab-settings").write_text('{"autosave": false}')
    port = free_port()
    proc = subprocess.Popen(["make", "--no-print-directory", "lab", f"PORT={port}", f"LAB_FLAGS={LAB_FLAGS}"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                with urllib.request.urlopen(base + "/api/status", timeout=10) as r:
                    if r.status == 200:
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
