"""Notebooks run as jobs with papermill."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import notebook_factory

from mlnb.api import Engine
from mlnb.cli import main
from mlnb.config import Settings
from mlnb.errors import FailedPrecondition, InvalidArgument

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def jobs(home: Path) -> Iterator[Engine]:
    engine = Engine(
        Settings.resolve(env={}, home=str(home), job_heartbeat_s=0.2, cancel_grace_s=1.0, job_host_idle_s=3.0)
    )
    yield engine
    engine.close()


def executed(job: Any) -> dict[str, Any]:
    return json.loads(Path(job.notebook_input["outputNotebook"]).read_text())  # type: ignore[no-any-return]


def test_a_notebook_job_runs_with_parameters(jobs: Engine, tmp_path: Path) -> None:
    source = notebook_factory.parameterised_notebook(tmp_path / "nb" / "report.ipynb")
    jobs.submit_notebook_job(
        "nb_1",
        source,
        parameters={"divisor": 4, "label": "quarter"},
        job_dir=tmp_path / "out",
        labels={"kind": "report"},
    )
    job = jobs.wait_job("nb_1", timeout=120)
    assert job.state == "SUCCEEDED", job.error_message
    assert (tmp_path / "nb" / "result.txt").read_text() == "quarter:2.5"
    assert job.progress == {"done": 4, "total": 4, "unit": "cells"}  # the injected cell counts too
    output = executed(job)
    assert "injected-parameters" in output["cells"][2]["metadata"]["tags"]
    assert (tmp_path / "out" / "report.ipynb").exists()
    messages = [e.message for e in jobs.job_logs("nb_1") if e.replica == "notebook"]
    assert any("value 2.5" in m for m in messages)


def test_a_job_dir_url_receives_the_executed_notebook(jobs: Engine, tmp_path: Path) -> None:
    # A URL stays a URL (it once became a local folder named "file:/..."):
    # the executed notebook is written through fsspec.
    source = notebook_factory.parameterised_notebook(tmp_path / "nb" / "report.ipynb")
    jobs.submit_notebook_job(
        "nb_url", source, parameters={"divisor": 2}, job_dir=f"file://{tmp_path}/url-out"
    )
    job = jobs.wait_job("nb_url", timeout=120)
    assert job.state == "SUCCEEDED", job.error_message
    assert job.notebook_input["jobDir"] == f"file://{tmp_path}/url-out"  # type: ignore[index]
    assert "value 5.0" in (tmp_path / "url-out" / "report.ipynb").read_text()


def test_a_failing_cell_fails_the_job_with_its_error(jobs: Engine, tmp_path: Path) -> None:
    source = notebook_factory.parameterised_notebook(tmp_path / "nb" / "report.ipynb")
    jobs.submit_notebook_job("nb_fail", source, parameters={"divisor": 0})
    job = jobs.wait_job("nb_fail", timeout=120)
    assert job.state == "FAILED"
    assert job.error_message == "Cell In [3] failed: ZeroDivisionError: division by zero"
    assert job.progress is not None and job.progress["done"] == 2


def test_progress_is_visible_while_it_runs_and_cancel_stops_it(jobs: Engine, tmp_path: Path) -> None:
    source = notebook_factory.parameterised_notebook(tmp_path / "nb" / "slow.ipynb", sleep=60)
    jobs.submit_notebook_job("nb_slow", source)
    deadline_job = None
    for _ in range(600):
        deadline_job = jobs.get_job("nb_slow")
        if deadline_job.progress and deadline_job.progress["done"] >= 1:
            break
        import time

        time.sleep(0.1)
    assert deadline_job is not None and deadline_job.progress == {"done": 1, "total": 3, "unit": "cells"}
    jobs.cancel_job("nb_slow")
    assert jobs.wait_job("nb_slow", timeout=60).state == "CANCELLED"


def test_bad_notebooks_and_kernels_are_refused(jobs: Engine, tmp_path: Path) -> None:
    source = notebook_factory.parameterised_notebook(tmp_path / "nb" / "report.ipynb")
    with pytest.raises(InvalidArgument, match="No Jupyter kernel named 'cobol'; installed kernels: "):
        jobs.submit_notebook_job("nb_bad1", source, kernel="cobol")
    (tmp_path / "not.ipynb").write_text("{ nope")
    with pytest.raises(InvalidArgument, match="not a notebook"):
        jobs.submit_notebook_job("nb_bad2", tmp_path / "not.ipynb")
    bare = json.loads(source.read_text())
    bare["metadata"] = {}
    (tmp_path / "bare.ipynb").write_text(json.dumps(bare))
    with pytest.raises(FailedPrecondition, match="names no kernel or language"):
        jobs.submit_notebook_job("nb_bad3", tmp_path / "bare.ipynb")
    assert jobs.list_jobs() == []
    jobs.submit_notebook_job("nb_kernel", tmp_path / "bare.ipynb", kernel="python3")
    assert jobs.wait_job("nb_kernel", timeout=120).state == "SUCCEEDED"


def test_the_cli_submits_a_notebook(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MLNB_HOME", str(home))
    monkeypatch.setenv("MLNB_JOB_HOST_IDLE_S", "3")
    source = notebook_factory.parameterised_notebook(tmp_path / "nb" / "report.ipynb")
    code = main(
        [
            "jobs",
            "submit",
            "notebook",
            "nb_cli",
            str(source),
            "-p",
            "divisor",
            "5",
            "-p",
            "label",
            "fifth",
            "--stream-logs",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "value 2.0" in out and out.rstrip().endswith("Job [nb_cli] ended SUCCEEDED.")
    assert (tmp_path / "nb" / "result.txt").read_text() == "fifth:2.0"
