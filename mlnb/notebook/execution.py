"""Notebook jobs: a notebook executed by papermill in a process of its own,
with parameters injected, progress in cells, the executed notebook kept as
the job's output, and a failing cell's error as the job's error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from mlnb.errors import FailedPrecondition, InvalidArgument
from mlnb.notebook.spec import NotebookSpec
from mlnb.runtime.execution import JobContext, Outcome
from mlnb.runtime.logs import LogWriter
from mlnb.runtime.processes import signal_group, with_lifeline
from mlnb.states import JobState
from mlnb.store import local_copy

if TYPE_CHECKING:
    from mlnb.runtime.dask_cluster import DaskSession

REPLICA = "notebook"


def check_notebook(path: Path) -> dict[str, Any]:
    """Read a notebook and return it, or say why it cannot run.

    Raises:
        InvalidArgument: Not a file, not JSON, or not a notebook.
    """
    if not path.is_file():
        raise InvalidArgument(f"The notebook {str(path)!r} does not exist")
    try:
        notebook = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InvalidArgument(f"{path.name} is not a notebook (not JSON: {e})") from e
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        raise InvalidArgument(f"{path.name} is not a notebook (no cells)")
    return notebook


def check_kernel(name: str) -> None:
    """Raise unless a Jupyter kernel of that name is installed.

    Raises:
        InvalidArgument: Naming the kernels that are installed.
    """
    from jupyter_client.kernelspec import KernelSpecManager

    specs = KernelSpecManager().find_kernel_specs()
    if name not in specs:
        raise InvalidArgument(
            f"No Jupyter kernel named {name!r}; installed kernels: {', '.join(sorted(specs))}"
        )


def cell_progress(path: Path) -> dict[str, Any] | None:
    """Cells done of cells in all, read from papermill's partly saved output."""
    try:
        notebook = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    cells = [c for c in notebook.get("cells", []) if c.get("cell_type") == "code"]
    done = sum(1 for c in cells if c.get("metadata", {}).get("papermill", {}).get("status") == "completed")
    return {"done": done, "total": len(cells), "unit": "cells"}


def failed_cell(path: Path) -> str | None:
    """``Cell In [3] failed: ZeroDivisionError: division by zero``, from the
    output (numbered as Jupyter shows it: papermill adds cells of its own)."""
    try:
        notebook = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            if output.get("output_type") == "error":
                where = f"In [{cell.get('execution_count')}]"
                return f"Cell {where} failed: {output.get('ename')}: {output.get('evalue')}"
    return None


class NotebookExecution:
    """One papermill run of a notebook job, here or (with a ``DaskSession``)
    as a task on a Dask worker."""

    def __init__(
        self,
        spec: NotebookSpec,
        log: LogWriter,
        home: Path,
        session: DaskSession | None = None,
    ) -> None:
        self.spec = spec
        self.log = log
        # papermill saves into this host's copy as it goes; ``_publish`` puts
        # it where the job keeps it (and into the job dir).
        self.output = home / "output" / Path(spec.output_notebook).name
        self.home = home
        self.session = session
        self._final_progress: dict[str, Any] | None = None  # a Dask task's, with its result
        self.process: subprocess.Popen[bytes] | None = None
        self.future: Any = None
        self.notebook = Path(spec.notebook)  # a local copy once prepared

    @classmethod
    def for_job(cls, context: JobContext) -> NotebookExecution:
        """A notebook job's execution; papermill runs as a Dask task when the
        context has a cluster."""
        spec = NotebookSpec.from_api(context.job.notebook_input or {})
        return cls(spec, context.log, context.home, context.session)

    def prepare(self) -> None:
        self.notebook = local_copy(self.spec.notebook, self.home / "input")
        check_notebook(self.notebook)
        if self.spec.kernel_name:
            check_kernel(self.spec.kernel_name)
        self.output.parent.mkdir(parents=True, exist_ok=True)

    def _papermill(self, notebook: str, output: str, parameters: str, cwd: str) -> list[str]:
        command = ["-m", "papermill", notebook, output, "-f", parameters, "--log-output", "--no-progress-bar"]
        command += ["--cwd", cwd]
        if self.spec.kernel_name:
            command += ["-k", self.spec.kernel_name]
        return command

    def _start_remote(self, session: DaskSession) -> None:
        source = self.notebook
        spec = {
            "name": REPLICA,
            "files": {
                "input.ipynb": source.read_bytes(),
                "parameters.yaml": yaml.safe_dump(dict(self.spec.parameters)).encode(),
            },
            "command": [
                "{python}",
                *self._papermill("input.ipynb", "output.ipynb", "parameters.yaml", "{workdir}"),
            ],
            "collect": ["output.ipynb"],
            "progress_file": "output.ipynb",
            "progress": cell_progress,
        }
        self.future = session.submit(spec, 0)
        self.log.service(f"Submitted {source.name} to the Dask cluster")

    def start(self) -> None:
        if self.session is not None:
            self._start_remote(self.session)
            return
        parameters = self.home / "parameters.yaml"
        parameters.write_text(yaml.safe_dump(dict(self.spec.parameters)))
        cwd = self.spec.working_dir
        if not cwd or not Path(cwd).is_dir():
            if cwd:
                self.log.service(f"{cwd} is not on this machine: the notebook runs in {self.home}")
            cwd = str(self.home)
        command = [
            sys.executable,
            *self._papermill(str(self.notebook), str(self.output), str(parameters), cwd),
        ]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            with_lifeline(command),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            process_group=0,
        )
        self.log.pump(self.process.stdout, REPLICA, "stdout")  # type: ignore[arg-type]
        self.log.pump(self.process.stderr, REPLICA, "stderr")  # type: ignore[arg-type]
        self.log.service(f"Executing {self.notebook.name} with papermill (pid {self.process.pid})")

    def progress(self) -> dict[str, Any] | None:
        if self.session is not None:
            return self._final_progress or self.session.progress
        return cell_progress(self.output)

    def outputs(self) -> dict[str, Any] | None:
        """A notebook job's output is its executed notebook, not a record field."""
        return None

    def close(self) -> None:
        """Nothing held beyond the processes, which have ended."""

    def poll(self) -> Outcome | None:
        code = self._remote_poll() if self.session is not None else self._local_poll()
        if code is None:
            return None
        self._publish()
        if code == 0:
            return Outcome(JobState.SUCCEEDED)
        error = failed_cell(self.output) or f"papermill exited with status {code}"
        return Outcome(JobState.FAILED, error)

    def _local_poll(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def _remote_poll(self) -> int | None:
        if self.future is None or not self.future.done():
            return None
        try:
            result = self.future.result()
        except Exception as e:  # a worker that died, or the task's own failure
            self.log.service(f"The Dask task failed: {type(e).__name__}: {e}")
            return 1
        self._final_progress = result.get("progress") or None
        if "output.ipynb" in result["files"]:
            self.output.parent.mkdir(parents=True, exist_ok=True)
            self.output.write_bytes(result["files"]["output.ipynb"])
        return int(result["returncode"])

    def stop(self, grace_s: float) -> None:
        import signal
        import time

        if self.session is not None and self.future is not None:
            self.session.stop_event.set()
            deadline = time.monotonic() + grace_s + 10
            while time.monotonic() < deadline and self._remote_poll() is None:
                time.sleep(0.1)
            return
        if self.process is None or self.process.poll() is not None:
            return
        signal_group(self.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and self.process.poll() is None:
            time.sleep(0.05)
        if self.process.poll() is None:
            signal_group(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self._publish()

    def _publish(self) -> None:
        """Put the executed notebook where the job keeps it, and into the job
        dir when there is one (a folder, or an fsspec URL such as
        ``s3://bucket/run``)."""
        if not self.output.exists():
            return
        data = self.output.read_bytes()
        targets = [self.spec.output_notebook]
        if self.spec.job_dir:
            targets.append(f"{str(self.spec.job_dir).rstrip('/')}/{self.output.name}")
        for target in targets:
            if "://" in target:
                import fsspec

                with fsspec.open(target, "wb") as stream:
                    stream.write(data)
            else:
                Path(target).parent.mkdir(parents=True, exist_ok=True)
                Path(target).write_bytes(data)


def validate_notebook(source: Path, kernel: str | None = None) -> None:
    """Refuse, before a job is recorded, a notebook papermill cannot run.

    Raises:
        InvalidArgument: Not a notebook, or an unknown kernel.
        FailedPrecondition: It names no kernel or language, and none is given.
    """
    notebook = check_notebook(source)
    if kernel:
        check_kernel(kernel)
        return
    metadata = notebook.get("metadata") or {}
    if not metadata.get("kernelspec") and not metadata.get("language_info"):
        raise FailedPrecondition(
            f"{source.name} names no kernel or language in its metadata; open and save it in Jupyter, "
            "or name a kernel",
            field="kernel",
        )
