"""The ``%ml`` command tree: the CLI's own commands and flags, under the
names the magics use, plus what only a notebook needs (a trainer in a
cell, instances from a variable, a background server, TensorBoard)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mlnb.cli import batch as cli_batch
from mlnb.cli import evaluate as cli_evaluate
from mlnb.cli import jobs as cli_jobs
from mlnb.cli import models as cli_models
from mlnb.cli import monitor as cli_monitor
from mlnb.cli import operations as cli_operations
from mlnb.cli import predict as cli_predict
from mlnb.cli import schedules as cli_schedules
from mlnb.cli import versions as cli_versions
from mlnb.cli.app import CliState, common_options
from mlnb.cli.output import ObjectOutput, Output, yaml_mapping
from mlnb.errors import InvalidArgument
from mlnb.magics.cell import instances_from, substitute
from mlnb.records import EvaluationRecord

if TYPE_CHECKING:
    from mlnb.api import Engine

# How a command reads its cell body (every other command reads flags as YAML keys).
SCRIPT, CONFIG, INSTANCES, FLAGS = "script", "config", "instances", "flags"


class MagicState(CliState):
    """A magic call: the CLI's state, with the cell body, the notebook's
    namespace and the shell's long-lived Engine. Results come back as
    Python objects unless ``--format`` asks for them printed."""

    program = "%ml"

    def __init__(self, engines: dict[str | None, KernelEngine], namespace: dict[str, Any]) -> None:
        super().__init__()
        self.format = ""
        self._engines = engines
        self.namespace = namespace
        self.body: str | None = None
        self.training_input: dict[str, Any] | None = None
        self.instances: list[Any] | None = None
        self.instances_read_as = ""  # how the cell body was read, for errors to say
        self.trailing_args: list[str] = []
        self._scratch: tempfile.TemporaryDirectory[str] | None = None

    @property
    def out(self) -> Output:
        return Output(self.format) if self.format else ObjectOutput()

    @property
    def engine(self) -> Engine:
        """The kernel's Engine for the project, made again when the home it
        was made for changed: ``MLNB_HOME`` set to another folder, or its
        database file removed and made anew (a notebook that starts from
        scratch, run twice in one kernel)."""
        from mlnb.config import Settings

        settings = Settings.resolve(project=self.project)
        cached = self._engines.get(self.project)
        if cached is not None and cached.serves(settings):
            return cached.engine
        if cached is not None:
            cached.engine.close()
        from mlnb.api import Engine

        made = KernelEngine(Engine(settings), _store_identity(settings))
        self._engines[self.project] = made
        return made.engine

    def close(self) -> None:
        if self._scratch is not None:
            self._scratch.cleanup()

    def write(self, name: str, data: bytes) -> Path:
        """Write a file for the command (a cell's trainer package) in a
        folder that lives as long as the magic call."""
        if self._scratch is None:
            self._scratch = tempfile.TemporaryDirectory(prefix="mlnb-magic-")
        path = Path(self._scratch.name) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path


def new_job_id(kind: str) -> str:
    """``train_20261122_103000_123``: a job name for a magic that was given none."""
    return f"{kind}_{datetime.now(UTC):%Y%m%d_%H%M%S_%f}"[:-3]


def _state() -> MagicState:
    state = click.get_current_context().find_object(MagicState)
    if state is None:
        raise RuntimeError("the %ml commands run with a MagicState")
    return state


def _with_optional_job(command: click.Command) -> list[click.Parameter]:
    """The command's parameters, with its JOB argument made optional."""
    return [
        click.Argument(["job"], required=False) if p.name == "job" and isinstance(p, click.Argument) else p
        for p in command.params
    ]


def _cell_trainer(state: MagicState, options: dict[str, Any], hint: str = "") -> bool:
    """Make the cell body, when there is one, the trainer: a package
    ``trainer/`` whose ``task.py`` is the body. Says whether it did."""
    if state.body is None or not state.body.strip():
        return False
    if options["package_path"] or options["module_name"]:
        raise click.UsageError(
            f"the cell body is the trainer script: drop --package-path and --module-name{hint}"
        )
    state.write("trainer/__init__.py", b"")
    task = state.write("trainer/task.py", state.body.encode())
    options["package_path"], options["module_name"] = str(task.parent), "trainer.task"
    return True


def _submit_training(kind: str, options: dict[str, Any]) -> Any:
    state = _state()
    options["user_args"] = (*options["user_args"], *state.trailing_args)
    options["job"] = options["job"] or new_job_id(kind)
    config_path = options.pop("config_path")
    if state.training_input is not None:
        if config_path not in (None, "-"):
            raise click.UsageError("give the trainingInput in the cell body or in --config FILE, not both")
        training_input = state.training_input
    elif config_path == "-":
        raise click.UsageError("--config - reads the trainingInput from the cell body, which is empty")
    else:
        _cell_trainer(state, options, " (or give --config - for a YAML body)")
        training_input = cli_jobs.read_config(config_path)
    if kind == "tune" and not training_input.get("hyperparameters"):
        raise click.UsageError(
            "%%ml tune needs a trainingInput with a 'hyperparameters' mapping in the cell body "
            "(or in --config FILE)"
        )
    return cli_jobs.submit_training_input(state, training_input=training_input, **options)


def _train(**options: Any) -> Any:
    """Submit a training job. In a cell, %%ml train's body is the trainer
    script (trainer/task.py of a package made for the job); with
    --config -, the body is ML Engine's trainingInput YAML. Arguments after
    -- go to the trainer."""
    return _submit_training("train", options)


def _tune(**options: Any) -> Any:
    """Submit a hyperparameter tuning job: the cell body is the YAML of
    ML Engine's trainingInput, with its hyperparameters mapping. Arguments
    after -- go to every trial."""
    return _submit_training("tune", options)


def _local_train(**options: Any) -> Any:
    """Run a trainer in the foreground with a job's environment; in a cell,
    the body is the trainer script. Arguments after -- go to the trainer."""
    state = _state()
    options["user_args"] = (*options["user_args"], *state.trailing_args)
    if not _cell_trainer(state, options) and not (options["package_path"] and options["module_name"]):
        raise click.UsageError(
            "give --package-path and --module-name, or the trainer script as the cell body"
        )
    return click.get_current_context().invoke(cli_predict.local_train, **options)


_FILE_FLAGS = ("json_instances", "text_instances", "json_request")


def _instances(options: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """The instances of a predict magic, from exactly one place: the cell
    body, ``--instances VAR`` (the notebook's objects, as they are), or
    one of gcloud's file flags; and a ``--json-request``'s other fields.
    Pops those options."""
    state = _state()
    name = options.pop("instances")
    files = {flag: options.pop(flag) for flag in _FILE_FLAGS}
    if name is not None and state.instances is not None:
        raise click.UsageError("give the instances in the cell body or with --instances, not both")
    if name is not None:
        if name not in state.namespace:
            raise InvalidArgument(f"--instances {name}: no such variable in the notebook")
        instances: list[Any] | None = instances_from(state.namespace[name], name)
    else:
        instances = state.instances
    if instances is None:
        return cli_predict.read_instances(*files.values())
    if any(value is not None for value in files.values()):
        raise click.UsageError("give the instances from the notebook or from a file, not both")
    return instances, {}


def _predict(**options: Any) -> Any:
    """Predict with a deployed version; instances come from the cell body
    (one JSON instance a line, or {"instances": [...]} in JSON or YAML),
    --instances VAR (a DataFrame, array or list of the notebook), or
    gcloud's file flags. Returns a DataFrame."""
    instances, parameters = _instances(options)
    state = _state()
    with _body_read_as_in_errors(state):
        return cli_predict.predict_with_version(state, instances, parameters=parameters, **options)


def _explain(chart: bool, **options: Any) -> Any:
    """Explain a deployed version's predictions; instances as for
    %ml predict. Shows a chart (a bar an attribution for one instance, a
    summary of every feature's attributions for several; --no-chart: none)
    and returns a DataFrame: one row an instance, one column a feature
    (its attribution), beside the prediction and the scores."""
    columns = _frame_columns(options.get("instances"))
    instances, _ = _instances(options)
    state = _state()
    with _body_read_as_in_errors(state):
        answer = cli_predict.explain_with_version(state, instances, feature_names=columns, **options)
    if chart and state.out.returns_objects:
        from mlnb.widgets.explanation_chart import show_explanation

        show_explanation(answer, instances)
    return answer


def _evaluate(data: str, plot: bool, **options: Any) -> Any:
    """Measure a version on labelled data: --data a DataFrame of the
    notebook (or a .csv, .jsonl or .parquet file), --target its column of
    true values. Shows the charts (confusion matrix, ROC and
    precision-recall curves, or residuals; --no-plot: none) and returns a
    DataFrame of the figures, a column a version (--compare OTHER: two,
    with the difference and its 95% bootstrap interval)."""
    state = _state()
    result = cli_evaluate.evaluate_with(state, _notebook_data(data), **options)
    if plot and state.out.returns_objects:
        from mlnb.widgets.evaluation_chart import show_evaluation

        records = [result] if isinstance(result, EvaluationRecord) else result["evaluations"]
        show_evaluation([record.to_api() for record in records])
    return result


@contextlib.contextmanager
def _body_read_as_in_errors(state: MagicState) -> Iterator[None]:
    """A refusal of instances from the cell body says how the body was read."""
    try:
        yield
    except InvalidArgument as e:
        if state.instances is None:
            raise
        raise InvalidArgument(f"{e.message} (the cell body was read as {state.instances_read_as})") from e


def _frame_columns(name: str | None) -> list[str] | None:
    """The column names of ``--instances NAME`` when it is a DataFrame."""
    value = _state().namespace.get(name) if name else None
    columns = getattr(value, "columns", None)
    return [str(c) for c in columns] if columns is not None else None


def _local_predict(**options: Any) -> Any:
    """Predict from a model folder directly; instances as for %ml predict."""
    instances, _ = _instances(options)
    return cli_predict.predict_from_folder(_state(), instances, **options)


def _submit_optional_job(command: click.Command, kind: str) -> Any:
    def callback(**options: Any) -> Any:
        options["job"] = options["job"] or new_job_id(kind)
        return click.get_current_context().invoke(command, **options)

    callback.__doc__ = command.help
    return callback


_INSTANCES_OPTION = click.Option(
    ["--instances"], metavar="VAR", help="A DataFrame, array or list of the notebook to predict."
)
_CHART_OPTION = click.Option(["--chart/--no-chart"], default=True, help="Show the attributions' chart.")
_NOTEBOOK_DATA = "A DataFrame of the notebook, or a .csv, .jsonl or .parquet file."
_PLOT_OPTION = click.Option(["--plot/--no-plot"], default=True, help="Show the evaluation's charts.")


def _command(name: str, callback: Any, params: list[click.Parameter], body: str) -> click.Command:
    command = click.Command(name, callback=callback, params=params, help=callback.__doc__)
    command.body_role = body  # type: ignore[attr-defined]
    return command


@click.group(name="%ml", context_settings={"help_option_names": ["-h", "--help"]})
@common_options
def ml() -> None:
    """mlnb in notebook cells: %ml on a line, %%ml with a cell body.

    \b
    Every flag may also be a YAML key of the cell body (job-dir: runs/x),
    but not both at once; $name on the line or in a YAML body takes the
    value of a notebook variable ($$ is a dollar sign). Results come back
    as Python objects: a job panel, DataFrames of jobs, models, versions
    and predictions.

    \b
    %%ml train [JOB] --job-dir runs/x [-- ARGS]   the cell is the trainer script
    %%ml train [JOB] --config -                    the cell is a trainingInput YAML
    %%ml tune [JOB]                                the cell is a trainingInput YAML
    %%ml predict --model M [--version V]          the cell holds the instances
    %ml predict --model M --instances df          instances from a variable
    %ml explain --model M --instances df          why: a DataFrame of attributions
    %ml evaluate --model M --data df --target y   figures and charts on labelled data
    %ml dataset describe --data df                 a row a feature: kind, counts, spread
    %ml monitor drift --model M                   what a version serves, against its baseline
    %ml rollout M --canary v2 --interval 10m      a canary, step by step (a job panel)
    %ml compare M                                 where the shadow version disagrees
    %%ml schedule NAME --every 6h                  the cell is the job template (YAML)
    %%ml pipeline [JOB]                            the cell is the pipeline (YAML): a job panel
    %ml schedules list                            schedules, their next and last runs
    """


_TRAIN_PARAMS = _with_optional_job(cli_jobs.submit_training)
ml.add_command(_command("train", _train, _TRAIN_PARAMS, SCRIPT))
ml.add_command(_command("tune", _tune, _TRAIN_PARAMS, CONFIG))
ml.add_command(
    _command(
        "batch_predict",
        _submit_optional_job(cli_batch.submit_prediction, "batch_predict"),
        _with_optional_job(cli_batch.submit_prediction),
        FLAGS,
    )
)
ml.add_command(
    _command(
        "notebook",
        _submit_optional_job(cli_jobs.submit_notebook, "notebook"),
        _with_optional_job(cli_jobs.submit_notebook),
        FLAGS,
    )
)
ml.add_command(_command("predict", _predict, [*cli_predict.predict.params, _INSTANCES_OPTION], INSTANCES))
ml.add_command(
    _command("explain", _explain, [*cli_predict.explain.params, _INSTANCES_OPTION, _CHART_OPTION], INSTANCES)
)


def _with_notebook_data(command: click.Command, help_text: str = _NOTEBOOK_DATA) -> list[click.Parameter]:
    """``command``'s parameters with its ``--data`` (a file) taking a
    notebook variable too (``_notebook_data`` reads it)."""
    given = next(p for p in command.params if p.name == "data")
    return [
        *(p for p in command.params if p.name != "data"),
        click.Option(["--data"], required=given.required, metavar="VAR|FILE", help=help_text),
    ]


def _notebook_data(name: str | None) -> Any:
    """``--data``: a notebook variable (a DataFrame) by name, else a file."""
    if name is None:
        return None
    state = _state()
    return state.namespace.get(name) if name in state.namespace else name


def _monitor_describe(data: str, **options: Any) -> Any:
    """Profile data (a DataFrame of the notebook, or a file): a row a
    feature with its kind, count, missing values, mean, std, median or its
    most frequent values."""
    return click.get_current_context().invoke(cli_monitor.describe, data=_notebook_data(data), **options)


def _monitor_baseline(data: str, **options: Any) -> Any:
    """Give a version its baseline from its training data (a DataFrame of
    the notebook, or a file)."""
    return click.get_current_context().invoke(cli_monitor.baseline, data=_notebook_data(data), **options)


def _monitor_drift(plot: bool, data: str | None = None, **options: Any) -> Any:
    """How far what a version serves has moved from its baseline: a
    DataFrame a feature, and the charts (PSI by feature, and each drifted
    feature's distribution against the baseline's; --no-plot: none)."""
    state = _state()
    answer = click.get_current_context().invoke(cli_monitor.drift, data=_notebook_data(data), **options)
    if plot and state.out.returns_objects:
        from mlnb.widgets.drift_chart import show_drift

        baseline = state.engine.get_baseline(options["model"], version=options.get("version"))
        show_drift(answer, baseline["profile"] if baseline else None)
    return answer


ml.add_command(
    _command(
        "evaluate",
        _evaluate,
        [
            *_with_notebook_data(cli_evaluate.evaluate, "A DataFrame of the notebook, or a labelled file."),
            _PLOT_OPTION,
        ],
        FLAGS,
    )
)
_monitor = click.Group("monitor", help="Baselines and drift of what versions serve.")
_monitor.add_command(
    _command("describe", _monitor_describe, _with_notebook_data(cli_monitor.describe), FLAGS)
)
_monitor.add_command(
    _command("baseline", _monitor_baseline, _with_notebook_data(cli_monitor.baseline), FLAGS)
)
_skew = "Measure this data's skew instead. " + _NOTEBOOK_DATA
_monitor.add_command(
    _command("drift", _monitor_drift, [*_with_notebook_data(cli_monitor.drift, _skew), _PLOT_OPTION], FLAGS)
)
_monitor.add_command(cli_monitor.check)
ml.add_command(_monitor)
# Datalab's name for the same overview: %ml dataset describe --data df.
_dataset = click.Group("dataset", help="Describe data (Datalab's %ml dataset).")
_dataset.add_command(_monitor.commands["describe"])
ml.add_command(_dataset)
# A model's rollout and its shadow's comparison, as the users name them.


def _cell_yaml(state: MagicState, config_path: str | None, what: str, command: str) -> str | None:
    """The cell body's YAML (``$name`` filled in), or ``None`` when
    ``--config FILE`` gives it instead.

    Raises:
        click.UsageError: Both, or neither.
    """
    body = state.body or ""
    if body.strip():
        if config_path:
            raise click.UsageError(f"give {what} in the cell body or in --config FILE, not both")
        return substitute(body, state.namespace, quote=False)
    if not config_path:
        raise click.UsageError(f"%%ml {command} needs {what} in the cell body (YAML), or --config FILE")
    return None


def _schedule(**options: Any) -> Any:
    """Make a schedule. In a cell, %%ml schedule's body is YAML: the Job
    body each run submits (trainingInput, predictionInput, notebookInput,
    or jobKind and jobInput), or a whole schedule with its jobTemplate;
    $name takes a notebook variable's value."""
    state = _state()
    text = _cell_yaml(state, options["config_path"], "its job template", "schedule")
    if text is not None:  # the CLI's create reads a file
        options["config_path"] = str(state.write("schedule.yaml", text.encode()))
    return cli_schedules.create.callback(**options)  # type: ignore[misc]


def _pipeline(job: str | None, config_path: str | None, labels: str | None) -> Any:
    """Run a pipeline as a job. In a cell, %%ml pipeline's body is its YAML:
    parameters, and steps (name, needs, when, and one of job, deploy,
    evaluate, setDefault); $name takes a notebook variable's value."""
    state = _state()
    text = _cell_yaml(state, config_path, "its steps", "pipeline")
    if text is not None:
        spec = yaml_mapping(text, "the cell body (a pipeline)")
    else:
        spec = cli_jobs.read_yaml_object(config_path, "--config")
    job_id = job or new_job_id("pipeline")
    return cli_jobs.submit_kind_input(
        state, job_id, "pipeline", spec, labels=labels, cluster=None, stream_logs=False
    )


ml.add_command(
    _command(
        "pipeline",
        _pipeline,
        [
            click.Argument(["job"], required=False),
            click.Option(
                ["--config", "config_path"], help="A YAML file of the pipeline, instead of the cell body."
            ),
            click.Option(["--labels"], help="KEY=VALUE,... the job's labels."),
        ],
        SCRIPT,
    )
)

_SCHEDULE_PARAMS = [
    click.Option(
        ["--config", "config_path"], help="A YAML file of the job template, instead of the cell body."
    )
    if isinstance(p, click.Option) and p.name == "config_path"
    else p
    for p in cli_schedules.create.params
]
ml.add_command(_command("schedule", _schedule, _SCHEDULE_PARAMS, SCRIPT))
ml.add_command(cli_schedules.schedules)
ml.add_command(cli_models.rollout_model, "rollout")
ml.add_command(cli_models.compare_shadow, "compare")
ml.add_command(cli_jobs.jobs)
ml.add_command(cli_models.models)
ml.add_command(cli_versions.versions)
ml.add_command(cli_versions.deploy)
ml.add_command(cli_operations.operations)


@ml.group("local")
def local() -> None:
    """Work with model files and trainers on this machine, without jobs."""


local.add_command(
    _command(
        "train",
        _local_train,
        [
            click.Option([p.opts[0]], help=p.help) if p.name in ("package_path", "module_name") else p
            for p in cli_predict.local_train.params
            if isinstance(p, click.Option | click.Argument)
        ],
        SCRIPT,
    )
)
local.add_command(
    _command(
        "predict",
        _local_predict,
        [*cli_predict.local_predict.params, _INSTANCES_OPTION],
        INSTANCES,
    )
)


@ml.command("browse")
@click.option("--model", help="Open this model's versions.")
@common_options
def browse(model: str | None) -> Any:
    """The model browser: models, versions, set-default, delete, predict."""
    from mlnb.widgets import ModelBrowser

    return ModelBrowser(_state().engine, model=model)


@ml.group("server")
def server() -> None:
    """A REST server in the background for this mlnb home."""


@server.command("start")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@common_options
def server_start(host: str, port: int, workers: int) -> dict[str, Any]:
    """Start the ML Engine v1 REST server; it outlives the kernel."""
    status: dict[str, Any] = _state().engine.start_server(host=host, port=port, workers=workers)
    click.echo(f"mlnb server at {status['url']} (pid {status['pid']}, log {status['log']})")
    return status


@server.command("stop")
@common_options
def server_stop() -> None:
    """Stop the background REST server."""
    status = _state().engine.stop_server()
    click.echo(f"Stopped the mlnb server at {status['url']}.")


@server.command("status")
@common_options
def server_status() -> dict[str, Any] | None:
    """Whether the background REST server runs, and where."""
    status: dict[str, Any] | None = _state().engine.server_status()
    if status is None:
        click.echo("No mlnb server is running (start one with %ml server start).")
    else:
        click.echo(f"mlnb server at {status['url']} (pid {status['pid']}, since {status['startTime']})")
    return status


@ml.group("tensorboard")
def tensorboard_group() -> None:
    """TensorBoard on a job's directory or any log folder."""


@tensorboard_group.command("start")
@click.option("--logdir", help="The folder of event files.")
@click.option("--job", help="A job whose job directory TensorBoard reads.")
@click.option("--port", type=int, help="Default: a free port.")
@common_options
def tensorboard_start(logdir: str | None, job: str | None, port: int | None) -> dict[str, Any]:
    """Start TensorBoard and show its address."""
    if bool(logdir) == bool(job):
        raise click.UsageError("give --logdir DIR or --job JOB")
    from mlnb.tensorboard import through_jupyter

    board: dict[str, Any] = _state().engine.start_tensorboard(logdir, job=job, port=port)
    # Through Jupyter where the kernel's server proxies it: 127.0.0.1 is the
    # kernel's machine, which a browser elsewhere cannot reach.
    proxied = through_jupyter(int(board["port"]))
    if proxied:
        board = {**board, "jupyterUrl": proxied}
        where = f"{proxied} (through Jupyter; also in the mlnb sidebar)"
    else:
        where = str(board["url"])
    click.echo(f"TensorBoard at {where} on {board['logdir']} (pid {board['pid']})")
    return board


@tensorboard_group.command("stop")
@click.option("--port", type=int, help="Stop the one on this port (default: all).")
@common_options
def tensorboard_stop(port: int | None) -> None:
    """Stop TensorBoard."""
    stopped = _state().engine.stop_tensorboard(port)
    click.echo(f"Stopped {len(stopped)} TensorBoard(s).")


@tensorboard_group.command("list")
@common_options
def tensorboard_list() -> list[dict[str, Any]]:
    """The TensorBoards running for this mlnb home."""
    boards: list[dict[str, Any]] = _state().engine.tensorboards()
    for board in boards:
        click.echo(f"{board['url']}  {board['logdir']}  (pid {board['pid']})")
    if not boards:
        click.echo("No TensorBoard is running.")
    return boards


def body_role(command: click.Command, words: list[str]) -> str:
    """How ``command`` reads a cell body, given its line's words."""
    role = str(getattr(command, "body_role", FLAGS))
    if role == SCRIPT and "--config" in words:
        index = words.index("--config")
        if index + 1 < len(words) and words[index + 1] == "-":
            return CONFIG
    return role


def _store_identity(settings: Any) -> tuple[int, int] | None:
    """The SQLite database file's identity (device, inode), or ``None``."""
    url = str(settings.database_url)
    if not url.startswith("sqlite:///"):
        return None
    try:
        found = os.stat(url.removeprefix("sqlite:///"))
    except OSError:
        return None
    return found.st_dev, found.st_ino


@dataclass
class KernelEngine:
    """A kernel's Engine for one project, and the database file it opened."""

    engine: Engine
    store: tuple[int, int] | None

    def serves(self, settings: Any) -> bool:
        """Whether it still serves ``settings``: the same home and store,
        and the same database file (not one removed and made anew)."""
        before = self.engine.settings
        where = (settings.home, settings.database_url, settings.artifact_root)
        if (before.home, before.database_url, before.artifact_root) != where:
            return False
        return self.store == _store_identity(settings)
