"""The notebook panels in a real JupyterLab: a job panel and a tuning panel
drawn by a notebook's kernel show their charts with data, and still do
after the page is reloaded while the kernel lives (the reload restores the
widgets from the kernel). Screenshots of each panel, before and after the
reload, go to the test's output folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest
from support import trainers
from support.jupyter import Jupyter

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]

EPOCHS = """
for epoch in range(1, 4):
    print(f"Epoch {epoch}/3", flush=True)
    print(f"2/2 - 0s - 5ms/step - accuracy: {epoch / 10:.2f} - loss: {1 / epoch:.3f}", flush=True)
"""

TUNING = {
    "hyperparameters": {
        "goal": "MAXIMIZE",
        "hyperparameterMetricTag": "accuracy",
        "maxTrials": 2,
        "maxParallelTrials": 2,
        "params": [
            {
                "parameterName": "C",
                "type": "DOUBLE",
                "minValue": 0.001,
                "maxValue": 10,
                "scaleType": "UNIT_LOG_SCALE",
            }
        ],
    }
}

# What each plotly chart in the outputs holds, read from the graph divs
# (plotly keeps a chart's traces on its div): [[trace type, points], ...].
TIMEOUT_MS = 240_000
CHARTS = """Array.from(document.querySelectorAll('.jp-OutputArea .js-plotly-plot')).map(
  gd => (gd.data || []).map(t => [t.type || 'scatter', (t.x || t.dimensions || []).length]))"""


def panels_notebook(root: Path) -> Path:
    epochs = root / "epochs"
    epochs.mkdir()
    (epochs / "__init__.py").write_text("")
    (epochs / "task.py").write_text(EPOCHS)
    tuner = trainers.write_tuned_trainer(root)
    cells = [
        "from mlnb.api import Engine\nfrom mlnb.widgets import JobPanel, TuningPanel\nengine = Engine()",
        f"engine.submit_training_job('epochs', {{}}, package_path={str(epochs)!r},\n"
        '                           module_name="epochs.task")\n'
        'assert engine.wait_job("epochs", timeout=300).state == "SUCCEEDED"\n'
        'JobPanel(engine, "epochs")',
        f"engine.submit_training_job('tuned', {TUNING!r}, package_path={str(tuner)!r},\n"
        '                           module_name="tuner.task")\n'
        'assert engine.wait_job("tuned", timeout=300).state == "SUCCEEDED"\n'
        'TuningPanel(engine, "tuned")',
    ]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = root / "panels.ipynb"
    nbformat.write(notebook, path)
    return path


def wait_for_charts(page: Any) -> list[list[list[Any]]]:
    """The charts once the job panel's and the tuning panel's are drawn
    with their data: two series of 3 epochs, two trials and the best so
    far, and a parallel-coordinates plot."""
    drawn = f"""() => {{
      const charts = {CHARTS};
      const full = c => c.length > 0 && c.every(t => t[1] > 0);
      return charts.length >= 3 && charts.every(full) ? charts : null;
    }}"""
    return page.wait_for_function(drawn, timeout=TIMEOUT_MS).json_value()


def test_panels_keep_their_charts_across_a_reload(lab: Jupyter, page: Any, tmp_path: Path) -> None:
    shots = tmp_path / "screenshots"
    shots.mkdir()
    panels_notebook(lab.root)
    page.goto(f"{lab.url}/lab/tree/panels.ipynb")
    page.locator(".jp-Notebook").wait_for()
    # Run All is taken only once the notebook's kernel is up.
    page.locator(".jp-StatusBar-Widget", has_text="Python 3 (ipykernel) | Idle").wait_for(timeout=120_000)
    page.click('.lm-MenuBar-itemLabel:text("Run")')
    page.click('.lm-Menu-itemLabel:text("Run All Cells")')
    before = wait_for_charts(page)
    assert sorted(before) == [
        [["parcoords", 2]],
        [["scatter", 2], ["scatter", 2]],
        [["scatter", 3], ["scatter", 3]],
    ]
    outputs = page.locator(".jp-OutputArea-output:has(.js-plotly-plot)")
    for i in range(outputs.count()):
        outputs.nth(i).screenshot(path=shots / f"before-reload-{i}.png")
    # Saved, as a user's notebook is: the reload reads it back and the
    # widgets in its outputs are restored from the live kernel.
    page.keyboard.press("Control+s")
    page.locator(".jp-mod-dirty").wait_for(state="detached")

    page.reload()
    page.locator(".jp-Notebook").wait_for()
    assert sorted(wait_for_charts(page)) == sorted(before)
    outputs = page.locator(".jp-OutputArea-output:has(.js-plotly-plot)")
    for i in range(outputs.count()):
        outputs.nth(i).screenshot(path=shots / f"after-reload-{i}.png")
    # The job panel's output and the tuning panel's (two charts in one output).
    assert len(list(shots.glob("after-reload-*.png"))) == 2
