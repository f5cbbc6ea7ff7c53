"""Chapter 01 as a reader meets it, in a real browser: `make lab`, Run All, the βt explorer's figure,
its sliders moved with the keyboard, an invalid setting's message, and an exercise answered and checked.

It drives Debian's chromium through playwright's Python package (never `playwright install`); without
that browser the test is skipped. Screenshots go to the test's tmp_path.
"""
import os
import re
import sys
import time
from pathlib import Path

import pytest

from diffusion_lite import NoiseSchedule

CHROMIUM = os.environ.get("DIFFUSION_LITE_CHROMIUM", "/usr/bin/chromium")
if not os.access(CHROMIUM, os.X_OK):
    pytest.skip(f"no Chromium at {CHROMIUM}; to run the browser test, install Debian's chromium: "
                "apt-get install chromium (`make test` does this when it runs as root)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "chapters"))
from solutions import ch01 as solutions  # noqa: E402

# No network, no GPU, no sandbox (we may run as root); playwright adds --headless itself.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
NOTEBOOK = "window.jupyterapp.shell.currentWidget"
KERNEL_STATUS = "() => window.jupyterapp?.shell.currentWidget?.sessionContext?.session?.kernel?.status ?? null"
CODE_CELLS_RUN = f"""() => {NOTEBOOK}.content.widgets.filter(c => c.model.type === 'code')
                                                      .every(c => c.model.executionCount !== null)"""
STDERR = '[data-mime-type="application/vnd.jupyter.stderr"]'  # tracebacks and warnings
ERRORS = f"() => [...{NOTEBOOK}.node.querySelectorAll('{STDERR}')].map(e => e.innerText)"


def wait_until(condition, seconds: float, what: str):
    """Poll `condition()` until it returns something truthy; fail saying `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out after {seconds:.0f} s waiting for {what}")


@pytest.fixture(scope="module")
def page(lab, tmp_path_factory):
    home = tmp_path_factory.mktemp("chromium")
    env = dict(os.environ, XDG_CONFIG_HOME=str(home / "config"), XDG_CACHE_HOME=str(home / "cache"))
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, env=env, timeout=30_000)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(20_000)  # every playwright wait is bounded
        yield page
        browser.close()


class Explorer:
    """The βt explorer's parts in the page: its sliders, status line and figure."""

    def __init__(self, page):
        self.page = page
        self.box = page.locator(".widget-vbox").filter(has=page.locator(".widget-label", has_text="β_end"))

    def slider(self, label: str):
        name = self.page.locator(".widget-label", has_text=re.compile(f"^{re.escape(label)}$"))
        return self.box.locator(".widget-slider").filter(has=name)

    def readout(self, label: str) -> str:
        return self.slider(label).locator(".widget-readout").inner_text()

    def state(self):
        """(status text, figure src); the figure is None while the explorer shows none."""
        figure = self.box.locator(".widget-output img")
        src = figure.first.get_attribute("src") if figure.count() else None
        return self.box.locator(".widget-html").inner_text(), src

    def settled(self, until, what: str, seconds: float = 30):
        """The state once `until(status, figure)` holds, the kernel is idle and nothing changed for 1 s.

        JupyterLab learns that the kernel is busy a little late, so `until` must pin the new state: a new
        status line can arrive before the figure drawn with it.
        """
        last, since = None, time.monotonic()

        def ready():
            nonlocal last, since
            now = self.state()
            if now != last:
                last, since = now, time.monotonic()
            return (until(*now) and self.page.evaluate(KERNEL_STATUS) == "idle"
                    and time.monotonic() - since > 1.0 and now)
        return wait_until(ready, seconds, f"the explorer to show {what} (last seen: {last and last[0]!r})")

    def press(self, label: str, key: str):
        """Focus the slider's handle and press `key`, as a reader does with Tab and the arrow keys."""
        self.slider(label).locator(".noUi-handle").press(key)


def snr_crossing(status: str) -> int:
    return int(re.search(r"SNR falls below 1 at t = (\d+)", status).group(1))


def test_run_all_then_move_the_explorer_by_keyboard_and_answer_an_exercise(lab, page, tmp_path):
    page.goto(f"{lab}/lab/tree/01_forward_process.ipynb?reset")
    wait_until(lambda: page.evaluate(KERNEL_STATUS) == "idle", 60, "the kernel to start")
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    wait_until(lambda: page.evaluate(ERRORS) or page.evaluate(CODE_CELLS_RUN), 120, "Run All to finish")
    assert page.evaluate(ERRORS) == []

    # After Run All the check cell has restored the explorer: linear, β from 1e-4 to 0.02, T = 1000.
    explorer = Explorer(page)
    explorer.box.scroll_into_view_if_needed()
    status, figure = explorer.settled(lambda _, new: new, "a figure")
    explorer.box.screenshot(path=tmp_path / "1_after_run_all.png")
    assert "Invalid" not in status and figure.startswith("data:image/png")
    assert [explorer.readout(name) for name in ("β_start", "β_end", "T")] == ["0.00010", "0.0200", "1000"]
    assert snr_crossing(status) == NoiseSchedule.make("linear", 1000, 1e-4, 0.02).first_t_below_snr(1.0)

    # One step right on β_end's log slider, to 10**(-1.7 + 0.05): the kernel gets it and the figure redraws.
    explorer.press("β_end", "ArrowRight")
    crossing = NoiseSchedule.make("linear", 1000, 1e-4, 10 ** -1.65).first_t_below_snr(1.0)
    status, moved = explorer.settled(lambda status, new: f"at t = {crossing} of" in status and new != figure,
                                     f"SNR < 1 from t = {crossing} in a new figure")
    explorer.box.screenshot(path=tmp_path / "2_beta_end_moved.png")
    assert explorer.readout("β_end") == "0.0224" and "Invalid" not in status

    # β_start to its maximum, 0.1 > β_end: the message shows in the widget ...
    explorer.press("β_start", "End")
    status, _ = explorer.settled(lambda status, _: "Invalid" in status, "the invalid setting's message")
    explorer.box.screenshot(path=tmp_path / "3_invalid_setting.png")
    assert "Invalid setting: beta_end must be >= beta_start, got beta_start=0.1 > beta_end=0.02239" in status
    # ... and the explorer keeps working once the setting is valid again.
    explorer.press("β_start", "Home")
    explorer.settled(lambda status, new: "Invalid" not in status and new != moved, "a new figure and no error")
    assert explorer.readout("β_start") == "0.00001"

    # Exercise 4: replace `answer = None` with the solution, run the cell, read the check's verdict.
    index = page.evaluate(f"""() => {NOTEBOOK}.content.widgets.findIndex(
        c => c.model.sharedModel.getSource().includes('check_constant_beta_steps(answer)'))""")
    cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
    cell.scroll_into_view_if_needed()
    cell.locator(".cm-content").click()
    page.keyboard.press("Control+Home")
    page.keyboard.press("Shift+End")
    page.keyboard.type(f"answer = {solutions.constant_beta_steps()!r}")
    page.keyboard.press("Shift+Enter")
    verdict = wait_until(lambda: re.search("[✓✗].*", cell.locator(".jp-OutputArea").inner_text()), 30,
                         "the exercise's check to print its verdict")
    cell.screenshot(path=tmp_path / "4_exercise_checked.png")
    assert verdict.group(0).startswith("✓ Correct.")
