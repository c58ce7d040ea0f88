"""The JupyterLab sidebar in a real Chromium (the system's, headless) against
a real ``jupyter lab``: what the CLI creates appears, set-default and delete
act on the Engine's store, a job changes state live and is cancelled from
the sidebar, and its logs tab shows its lines. Screenshots of each step go
to the test's output folder."""

from __future__ import annotations

import contextlib
import json
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from support.jupyter import Jupyter, cli
from support.rest_server import free_port

from mlnb.api import Engine
from mlnb.errors import MlnbError

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]

TICKER = "import time\nfor i in range(600):\n    print(f'tick {i}', flush=True)\n    time.sleep(0.5)\n"


def submit_ticker(lab: Jupyter, root: Path, name: str) -> None:
    """A training job ``name`` whose trainer (package ``root/name``) prints a
    tick every half second for five minutes, submitted with the CLI."""
    package = root / name
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "task.py").write_text(TICKER)
    cli(
        lab,
        "jobs",
        "submit",
        "training",
        name,
        "--package-path",
        str(package),
        "--module-name",
        f"{name}.task",
    )


def open_sidebar(page: Any) -> None:
    """Click the mlnb tab unless its panel shows already (a second click would close it)."""
    if not page.locator("#mlnb-sidebar").is_visible():
        page.click('.jp-SideBar [data-id="mlnb-sidebar"]')
    page.locator("#mlnb-sidebar").wait_for()


def eventually(check: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_the_sidebar_drives_models_and_jobs(
    lab: Jupyter, page: Any, sklearn_model: Any, iris_features: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    shots = tmp_path / "screenshots"
    shots.mkdir()
    engine = Engine(home=str(lab.home))
    try:
        cli(lab, "models", "create", "iris")
        cli(lab, "versions", "create", "v1", "--model", "iris", "--origin", str(sklearn_model[0]))
        cli(lab, "versions", "create", "v2", "--model", "iris", "--origin", str(sklearn_model[0]))

        open_sidebar(page)
        v1 = page.locator('.mlnb-version[data-model="iris"][data-version="v1"]')
        v2 = page.locator('.mlnb-version[data-model="iris"][data-version="v2"]')
        expect(v2).to_contain_text("SCIKIT_LEARN · READY")
        # A date shows on one line: one line's height, however narrow the panel.
        date = v2.locator(".mlnb-time")
        expect(date).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d$"))
        assert date.evaluate("e => e.getClientRects().length") == 1
        expect(v1.locator(".mlnb-default")).to_be_visible()
        expect(v2.locator(".mlnb-default")).to_be_hidden()
        page.screenshot(path=shots / "1-models.png")

        v2.get_by_role("button", name="Make v2 the default of iris").click()
        eventually(lambda: engine.get_model("iris").default_version.name == "v2")
        expect(v2.locator(".mlnb-default")).to_be_visible()
        page.screenshot(path=shots / "2-set-default.png")

        # Keyboard: a version row takes focus and Enter opens its predict form.
        v2.focus()
        page.keyboard.press("Enter")
        # One instance a line, as gcloud reads --json-instances.
        page.fill(".mlnb-predict-input", "\n".join(json.dumps(row) for row in iris_features[:2].tolist()))
        page.click(".mlnb-predict-button")
        expected = str(sklearn_model[1].predict(iris_features[:2]).tolist()).replace(" ", "")
        page.wait_for_function(
            "text => document.querySelector('.mlnb-predict-output').textContent === text", arg=expected
        )
        page.screenshot(path=shots / "3-predict.png")
        # Explain: the same instances, each feature a bar, the largest first.
        page.click(".mlnb-explain-button")
        first = page.locator(".mlnb-explanation-instance").first
        expect(first.locator(".mlnb-attribution")).to_have_count(4)
        expect(page.locator(".mlnb-explanation-instance")).to_have_count(2)
        expect(page.locator(".mlnb-explanation-note")).to_have_text("sampledShapley of v2")
        values = first.locator(".mlnb-attribution-value").all_text_contents()
        assert [abs(float(v)) for v in values] == sorted((abs(float(v)) for v in values), reverse=True)
        expect(page.locator(".mlnb-predict-output")).to_have_text("")
        page.screenshot(path=shots / "3b-explain.png")

        # Deleting the default while v1 exists is refused: the server's message is a notification.
        v2.get_by_role("button", name="Delete version v2 of iris").click()
        page.locator(".jp-Dialog").get_by_role("button", name="Delete").click()
        page.get_by_text("is the default of model").first.wait_for()
        page.screenshot(path=shots / "4-refused.png")
        v1.get_by_role("button", name="Delete version v1 of iris").click()
        page.locator(".jp-Dialog").get_by_role("button", name="Delete").click()
        v1.wait_for(state="detached")
        assert [v.name for v in engine.list_versions("iris")] == ["v2"]

        submit_ticker(lab, tmp_path, "ticker")
        job = page.locator('.mlnb-job[data-job="ticker"]')
        job.wait_for()
        expect(job.locator(".mlnb-state")).to_have_text("RUNNING")
        page.screenshot(path=shots / "5-job-running.png")

        job.get_by_role("button", name="Open the logs of ticker").click()
        logs = page.locator(".mlnb-logs-text")
        expect(logs).to_contain_text("tick 2")
        expect(logs).to_contain_text("tick 0")
        page.screenshot(path=shots / "6-logs.png")

        job.get_by_role("button", name="Cancel ticker").click()
        expect(job.locator(".mlnb-state")).to_have_text("CANCELLED", timeout=60_000)
        assert engine.get_job("ticker").state == "CANCELLED"
        # A finished job has no Cancel button.
        expect(job.get_by_role("button", name="Cancel ticker")).to_be_hidden()
        expect(page.locator(".mlnb-logs-status")).to_contain_text("The job has ended")
        page.screenshot(path=shots / "7-cancelled.png")
    finally:
        engine.close()
    assert sorted(p.name for p in shots.iterdir()) == [
        "1-models.png",
        "2-set-default.png",
        "3-predict.png",
        "3b-explain.png",
        "4-refused.png",
        "5-job-running.png",
        "6-logs.png",
        "7-cancelled.png",
    ]


def test_the_sidebar_reads_in_the_dark_theme_and_starts_the_server(
    lab: Jupyter, page: Any, tmp_path: Path
) -> None:
    open_sidebar(page)
    light = page.eval_on_selector(".mlnb-sidebar", "e => getComputedStyle(e).backgroundColor")
    page.click('.lm-MenuBar-itemLabel:text("Settings")')
    page.click('.lm-Menu-itemLabel:text("Theme")')
    page.click('.lm-Menu-itemLabel:text("JupyterLab Dark")')
    page.wait_for_function(
        "light => getComputedStyle(document.querySelector('.mlnb-sidebar')).backgroundColor !== light",
        arg=light,
    )
    page.locator("#jupyterlab-splash").wait_for(state="detached")
    page.locator(".mlnb-server-status").wait_for()
    page.screenshot(path=tmp_path / "dark.png")
    port = free_port()
    page.get_by_label("Port of the mlnb REST server").fill(str(port))
    page.locator(".mlnb-server").get_by_role("button", name="Start the mlnb REST server").click()
    page.get_by_text(f"Running at http://127.0.0.1:{port}").wait_for()
    page.locator(".mlnb-server").get_by_role("button", name="Stop the mlnb REST server").click()
    page.get_by_text("Not running").wait_for()


# Counts the sidebar's DOM changes: a refresh that finds nothing new must
# change nothing (rows are updated in place, never rebuilt).
WATCH_MUTATIONS = """() => {
  window.mlnbMutations = 0;
  new MutationObserver(records => { window.mlnbMutations += records.length; })
    .observe(document.querySelector('.mlnb-models'), {childList: true, subtree: true, characterData: true});
}"""


def refresh(page: Any) -> None:
    """Press the sidebar's refresh button from a script (a user's click
    would move the focus) and wait for the read it makes."""
    with page.expect_response(lambda r: "/mlnb/api/state" in r.url and "since=" not in r.url):
        page.evaluate("document.querySelector('#mlnb-sidebar .jp-ToolbarButtonComponent').click()")


def type_across_pushes(page: Any, text: str, every: int = 4) -> None:
    """Type ``text`` at about 6 keys a second, and after every ``every``
    keys wait for the server's next push, so that pushes land between
    keystrokes however slow the machine."""
    for i, key in enumerate(text, start=1):
        page.keyboard.type(key, delay=160)
        if i % every == 0:
            page.wait_for_event("response", lambda r: "/mlnb/api/state?since=" in r.url, timeout=30_000)


def test_typing_survives_refreshes(lab: Jupyter, page: Any, sklearn_model: Any, tmp_path: Path) -> None:
    """A user types into the predict form and the port field at human speed
    while the server pushes changes (a running job's clock every second, a
    new version): every keystroke lands, the field keeps its focus, and a
    refresh that finds no new model changes nothing in the models list."""
    from playwright.sync_api import expect

    shots = tmp_path / "screenshots"
    shots.mkdir()
    cli(lab, "models", "create", "typed")
    cli(lab, "versions", "create", "v1", "--model", "typed", "--origin", str(sklearn_model[0]))
    submit_ticker(lab, tmp_path, "ticking")
    open_sidebar(page)
    expect(page.locator('.mlnb-job[data-job="ticking"] .mlnb-state')).to_have_text("RUNNING", timeout=60_000)
    engine = Engine(home=str(lab.home))
    try:
        v1 = page.locator('.mlnb-version[data-model="typed"][data-version="v1"]')
        v1.locator(".mlnb-name").click()
        field = page.get_by_label("Instances for typed v1")
        field.click()
        typed = "[5.1, 3.5, 1.4, 0.2]"
        half = len(typed) // 2
        # At human speed while the job's clock is pushed and a new version comes.
        type_across_pushes(page, typed[:half])
        cli(lab, "versions", "create", "v2", "--model", "typed", "--origin", str(sklearn_model[0]))
        page.locator('.mlnb-version[data-model="typed"][data-version="v2"]').wait_for()
        type_across_pushes(page, typed[half:])
        expect(field).to_have_value(typed)
        expect(field).to_be_focused()
        page.screenshot(path=shots / "typed-instances.png")

        page.evaluate(WATCH_MUTATIONS)
        for _ in range(3):
            refresh(page)
        assert page.evaluate("window.mlnbMutations") == 0

        form = page.locator(".mlnb-version-item:has([data-model='typed'][data-version='v1']) .mlnb-predict")
        form.locator(".mlnb-predict-button").click()
        expected = json.dumps(sklearn_model[1].predict([json.loads(typed)]).tolist()).replace(" ", "")
        expect(form.locator(".mlnb-predict-output")).to_have_text(expected)

        port = page.get_by_label("Port of the mlnb REST server")
        port.click()
        port.press("Control+a")
        chosen = str(free_port())
        type_across_pushes(page, chosen, every=2)
        expect(port).to_have_value(chosen)
        expect(port).to_be_focused()
        page.screenshot(path=shots / "typed-port.png")
    finally:
        engine.cancel_job("ticking")
        engine.close()


def test_tensorboard_opens_in_a_tab_through_jupyter(lab: Jupyter, page: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    (tmp_path / "events").mkdir()
    engine = Engine(home=str(lab.home))
    try:
        port = engine.start_tensorboard(str(tmp_path / "events"))["port"]
        open_sidebar(page)
        row = page.locator(f'.mlnb-tensorboard[data-port="{port}"]')
        expect(row).to_contain_text(str(tmp_path / "events"))
        row.get_by_role("button", name=f"Open the TensorBoard on port {port}").click()
        frame = page.frame_locator(f"#mlnb-tensorboard-{port} iframe")
        # TensorBoard's own page, served through Jupyter (proxy/PORT/).
        # (an empty log folder: TensorBoard says it has nothing to show).
        expect(frame.get_by_text("No dashboards are active").first).to_be_visible(timeout=60_000)
        page.screenshot(path=tmp_path / "tensorboard.png")
        row.get_by_role("button", name=f"Stop the TensorBoard on port {port}").click()
        row.wait_for(state="detached")
        assert engine.tensorboards() == []
    finally:
        engine.stop_tensorboard()
        engine.close()


def test_a_versions_drift_and_evaluation_show_in_its_row(
    lab: Jupyter, page: Any, sklearn_model: Any, iris_features: Any
) -> None:
    from playwright.sync_api import expect
    from sklearn.datasets import load_iris

    engine = Engine(home=str(lab.home))
    try:
        engine.create_model("drifting", online_prediction_logging=True)
        engine.create_version("drifting", "v1", sklearn_model[0])
        open_sidebar(page)
        row = page.locator('.mlnb-version[data-model="drifting"][data-version="v1"]')
        expect(row).to_contain_text("READY")
        expect(row.locator(".mlnb-drift")).to_be_hidden()  # never checked
        engine.set_baseline("drifting", iris_features.tolist())
        engine.predict("drifting", iris_features.tolist())
        assert engine.check_drift("drifting")["drifted"] == []
        expect(row.locator(".mlnb-drift")).to_have_text("no drift")
        moved = (iris_features[::2] + np.asarray([0.0, 0.0, 4.0, 0.0])).tolist()
        engine.predict("drifting", moved)
        engine.predict("drifting", moved)
        assert engine.check_drift("drifting")["drifted"] == ["2"]
        expect(row.locator(".mlnb-drift")).to_have_text("drift: 2")
        frame = pd.DataFrame(iris_features, columns=list("abcd")).assign(y=load_iris().target)
        record = engine.evaluate("drifting", frame, "y", dataset="holdout")
        accuracy = float(f"{record.metrics['accuracy']:.3g}")
        expect(row.locator(".mlnb-details")).to_contain_text(f"accuracy {accuracy:g} on holdout")
    finally:
        engine.close()


def test_a_models_traffic_shows_in_its_version_rows(lab: Jupyter, page: Any, sklearn_model: Any) -> None:
    from playwright.sync_api import expect

    engine = Engine(home=str(lab.home))
    try:
        engine.create_model("shared")
        for name in ("v1", "v2", "v3"):
            engine.create_version("shared", name, sklearn_model[0])
        open_sidebar(page)
        rows = {
            n: page.locator(f'.mlnb-version[data-model="shared"][data-version="{n}"]')
            for n in ("v1", "v2", "v3")
        }
        expect(rows["v3"]).to_contain_text("READY")
        expect(rows["v1"].locator(".mlnb-traffic")).to_be_hidden()  # the default alone: nothing to say
        engine.set_traffic_split("shared", {"v1": 70, "v2": 30})
        engine.set_alias("shared", "champion", "v1")
        engine.set_shadow("shared", "v3", percent=10)
        expect(rows["v1"].locator(".mlnb-traffic")).to_have_text("70% @champion")
        expect(rows["v2"].locator(".mlnb-traffic")).to_have_text("30%")
        expect(rows["v3"].locator(".mlnb-traffic")).to_have_text("0% shadow")
        engine.set_traffic_split("shared", {})
        expect(rows["v2"].locator(".mlnb-traffic")).to_be_hidden()
        expect(rows["v1"].locator(".mlnb-traffic")).to_have_text("@champion")
    finally:
        engine.close()


def test_a_schedule_is_paused_resumed_and_run_from_the_sidebar(
    lab: Jupyter, page: Any, sklearn_model: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    engine = Engine(home=str(lab.home))
    try:
        # Its job: a one-step pipeline that deploys a version (no process of its own).
        step = {
            "name": "deploy",
            "deploy": {"model": "scheduled", "version": "v1", "deploymentUri": str(sklearn_model[0])},
        }
        engine.create_schedule(
            "nightly_deploy",
            {"interval": "1d", "jobTemplate": {"jobKind": "pipeline", "jobInput": {"steps": [step]}}},
        )
        open_sidebar(page)
        row = page.locator('.mlnb-schedule[data-schedule="nightly_deploy"]')
        expect(row.locator(".mlnb-state")).to_have_text("ACTIVE")
        expect(row.locator(".mlnb-details")).to_contain_text("every 1d · next ")
        row.get_by_role("button", name="Pause nightly_deploy").click()
        expect(row.locator(".mlnb-state")).to_have_text("PAUSED")
        assert engine.get_schedule("nightly_deploy").state == "PAUSED"
        expect(row.get_by_role("button", name="Pause nightly_deploy")).to_be_hidden()
        row.get_by_role("button", name="Resume nightly_deploy").click()
        expect(row.locator(".mlnb-state")).to_have_text("ACTIVE")
        row.get_by_role("button", name="Run nightly_deploy's job now").click()
        job = page.locator(".mlnb-job[data-job^='nightly_deploy_']")
        expect(job).to_be_visible()
        expect(row.locator(".mlnb-last-run")).to_have_text("last SUCCEEDED", timeout=120_000)
        # The run is a pipeline: its job row says each step's state.
        expect(job.locator(".mlnb-stages")).to_have_text("deploy succeeded")
        (run,) = engine.schedule_runs("nightly_deploy")
        assert run.job_id.endswith("_now") and engine.get_version("scheduled", "v1").state == "READY"
        page.screenshot(path=tmp_path / "schedule.png")
    finally:
        # The shared lab's on-demand host stays while a schedule is active: let it go.
        with contextlib.suppress(MlnbError):
            engine.delete_schedule("nightly_deploy")
        engine.close()


def test_a_models_scheduled_batch_jobs_show_under_its_versions(
    lab: Jupyter, page: Any, sklearn_model: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    engine = Engine(home=str(lab.home))
    try:
        engine.create_model("nightly_model")
        engine.create_version("nightly_model", "v1", sklearn_model[0])
        prediction = {
            "modelName": "projects/default/models/nightly_model",
            "inputPaths": [str(tmp_path / "rows-{{ run_time | %Y%m%d }}.json")],
            "outputPath": str(tmp_path / "out"),
            "dataFormat": "JSON",
        }
        engine.create_schedule("scores", {"interval": "6h", "jobTemplate": {"predictionInput": prediction}})
        open_sidebar(page)
        block = page.locator('.mlnb-model[data-model="nightly_model"]')
        row = block.locator('.mlnb-model-schedule[data-schedule="scores"]')
        expect(row.locator(".mlnb-details")).to_contain_text("every 6h · next ")
        expect(row.locator(".mlnb-state")).to_have_text("ACTIVE")
        row.get_by_role("button", name="Pause scores").click()
        expect(row.locator(".mlnb-state")).to_have_text("PAUSED")
        # The Schedules section's row is the same schedule.
        listed = page.locator('.mlnb-schedules .mlnb-schedule[data-schedule="scores"]')
        expect(listed.locator(".mlnb-state")).to_have_text("PAUSED")
        assert engine.get_schedule("scores").state == "PAUSED"
        engine.delete_schedule("scores")
        expect(row).to_have_count(0)
    finally:
        with contextlib.suppress(MlnbError):
            engine.delete_schedule("scores")
        engine.close()


def test_a_pipelines_row_draws_its_graph_with_each_steps_state(
    lab: Jupyter, page: Any, sklearn_model: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    engine = Engine(home=str(lab.home))
    try:
        origin = str(sklearn_model[0])
        steps = [
            {"name": "deploy_a", "deploy": {"model": "drawn", "version": "a", "deploymentUri": origin}},
            {"name": "deploy_b", "deploy": {"model": "drawn", "version": "b", "deploymentUri": origin}},
            {
                "name": "promote",
                "needs": ["deploy_a", "deploy_b"],
                "setDefault": {"model": "drawn", "version": "b"},
            },
            {"name": "broken", "needs": ["promote"], "setDefault": {"model": "drawn", "version": "missing"}},
        ]
        engine.submit_job("drawn_pipeline", "pipeline", {"steps": steps})
        open_sidebar(page)
        graph = page.locator('.mlnb-job[data-job="drawn_pipeline"] .mlnb-pipeline-graph')
        boxes = {s["name"]: graph.locator(f'[data-step="{s["name"]}"]') for s in steps}
        expect(boxes["broken"]).to_have_class(re.compile("mlnb-step-failed"), timeout=120_000)
        for name in ("deploy_a", "deploy_b", "promote"):
            expect(boxes[name]).to_have_class(re.compile("mlnb-step-succeeded"))
        expect(graph.locator(".mlnb-pipeline-edge")).to_have_count(3)
        # Layers from top to bottom: the two deploys side by side, then promote, then broken.
        at = {name: box.locator("rect").bounding_box() for name, box in boxes.items()}
        assert at["deploy_a"]["y"] == at["deploy_b"]["y"] < at["promote"]["y"] < at["broken"]["y"]
        assert at["deploy_a"]["x"] < at["deploy_b"]["x"]
        expect(boxes["broken"].locator("title")).to_contain_text("broken (setDefault): FAILED: ")
        graph.scroll_into_view_if_needed()
        graph.screenshot(path=tmp_path / "pipeline.png")
    finally:
        engine.close()


def test_a_rollouts_row_shows_its_step_and_the_canarys_figures(
    lab: Jupyter, page: Any, sklearn_model: Any
) -> None:
    from playwright.sync_api import expect

    engine = Engine(home=str(lab.home))
    job = None
    try:
        engine.create_model("rolled", online_prediction_logging=True)
        for name in ("v1", "v2"):
            engine.create_version("rolled", name, sklearn_model[0])
        job = engine.rollout("rolled", "v2", steps=[25, 100], interval_s=600.0, max_error_rate=0.5)
        open_sidebar(page)
        row = page.locator(f'.mlnb-job[data-job="{job.job_id}"]')
        expect(row.locator(".mlnb-stages")).to_have_text(
            "v2 at 25% · 0 requests, 0.0% failed", timeout=120_000
        )
        engine.predict("rolled", [[5.1, 3.5, 1.4, 0.2]], version="v2")  # logged: the figures move
        expect(row.locator(".mlnb-stages")).to_contain_text(
            "v2 at 25% · 1 requests, 0.0% failed", timeout=120_000
        )
    finally:
        if job is not None:
            engine.cancel_job(job.job_id)  # rolls the split back
        engine.close()
