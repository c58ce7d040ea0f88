"""Settings: resolved once, from arguments, then ``MLNB_*`` variables, then
``$MLNB_HOME/config.toml``, then defaults, and passed down from there.

Nothing in mlnb reads the environment at import time; ``Settings.resolve`` is
the one place that does.
"""

from __future__ import annotations

import dataclasses
import getpass
import json
import os
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlnb.errors import InvalidArgument

__all__ = ["JOB_HOST_MODES", "HomePaths", "Settings"]

JOB_HOST_MODES = ("auto", "service")


@dataclass(frozen=True)
class HomePaths:
    """The layout of an mlnb home: the one place that spells its folders."""

    home: Path

    @property
    def jobs(self) -> Path:
        """``jobs/{project}/{job}``: each job's logs, staged inputs and outputs."""
        return self.home / "jobs"

    @property
    def run(self) -> Path:
        """Locks, state and logs of the background services (job host, REST server, TensorBoard)."""
        return self.home / "run"

    @property
    def prediction_logs(self) -> Path:
        """Where older mlnb logged online requests and answers (now in the
        metadata store; a folder found here is moved there once)."""
        return self.home / "prediction-logs"

    @property
    def trainer_builds(self) -> Path:
        """Trainer package sdists, by content hash."""
        return self.home / "cache" / "trainers"

    @property
    def trainer_envs(self) -> Path:
        """Trainer environments, by package set."""
        return self.home / "cache" / "envs"

    @property
    def downloads(self) -> Path:
        """Local copies of files named by URL (trainer packages in a bucket)."""
        return self.home / "cache" / "downloads"

    @property
    def artifact_cache(self) -> Path:
        """Local copies of stored model files."""
        return self.home / "cache" / "artifacts"

    @property
    def package_cache(self) -> Path:
        """Unpacked custom prediction routine packages."""
        return self.home / "cache" / "packages"


@dataclass(frozen=True)
class Settings:
    """Everything that can be configured, with its default.

    Attributes:
        home: Folder for the default database, artifacts and caches
            (``MLNB_HOME``, default ``~/.mlnb``).
        database_url: SQLAlchemy URL of the metadata store
            (``MLNB_DATABASE_URL``, default SQLite at ``home/mlnb.db``).
        artifact_root: Folder or fsspec URL where model files are kept
            (``MLNB_ARTIFACT_ROOT``, default ``home/artifacts``).
        project: Project used when none is named (``MLNB_PROJECT``).
        model_quota: Models allowed per project (``MLNB_MODEL_QUOTA``).
        version_quota: Versions allowed per project, all models together
            (``MLNB_VERSION_QUOTA``).
        actor: Name recorded in model histories (``MLNB_ACTOR``, default the
            login name).
        busy_timeout_s: How long a SQLite writer waits for another one.
        predictor_cache_size: Loaded versions kept warm per process, least
            recently used unloaded first (``MLNB_PREDICTOR_CACHE_SIZE``).
        predictor_cache_mb: The most megabytes of model files a process
            keeps loaded (their size on disk stands for their memory);
            beyond it the least recently used versions are unloaded, except
            those a version's scaling keeps loaded (``MLNB_PREDICTOR_CACHE_MB``,
            0 for no bound).
        resolve_ttl_s: How long a process trusts what it read about a model's
            default version before it reads again
            (``MLNB_RESOLVE_TTL_S``); changes made through the same Engine
            are seen at once.
        skops_trusted_types: Comma-separated types that skops files may
            hold beyond skops's trusted defaults
            (``MLNB_SKOPS_TRUSTED_TYPES``).
        max_running_jobs: Jobs that run at once on this machine; the rest
            wait in order (``MLNB_MAX_RUNNING_JOBS``, default the number of
            cores).
        cluster_max_jobs: The most jobs of one project that run on a Dask
            cluster at once, whichever hosts run them; the rest wait in
            their hosts (``MLNB_CLUSTER_MAX_JOBS``; 0, the default: no cap,
            the cluster's own capacity decides).
        job_heartbeat_s: How often a job's runner reports that it is alive.
        job_dead_after_s: The length of a job host's lease on a job: a job
            whose host has not renewed it for this long is ended FAILED by
            the next explicit reap (``MLNB_JOB_DEAD_AFTER_S``).
        job_host: Who runs the jobs submitted here: ``auto`` (a job host
            that this machine starts on demand) or ``service`` (the team's
            job hosts, ``mlnb jobs host`` on any machine that shares the
            database) (``MLNB_JOB_HOST``).
        host_max_jobs: The most jobs one ``mlnb jobs host`` holds at once;
            the rest stay queued for other hosts (``MLNB_HOST_MAX_JOBS``).
        host_drain_s: How long a job host that is asked to stop (SIGTERM,
            Ctrl-C) lets its running jobs finish: it takes no new job and
            hands back those not started at once, then stops what still
            runs after this long, or at a second signal (``MLNB_HOST_DRAIN_S``;
            0: stop at once).
        monitor_interval_s: How often a team's job host (``mlnb jobs
            host``) checks the drift of every version whose baseline has
            alerting (``MLNB_MONITOR_INTERVAL_S``; 0: never).
        gpus: The GPUs this machine gives jobs: ``auto`` (those
            ``nvidia-smi`` lists), indices (``0,1``), or empty for none
            (``MLNB_GPUS``). A job that asks for N waits until N are free;
            its replicas see only theirs (``CUDA_VISIBLE_DEVICES``).
        notify_webhook: A webhook told of every job's end (SUCCEEDED or
            FAILED) unless the job names its own, and of every schedule's
            runs missed or refused (``MLNB_NOTIFY_WEBHOOK``).
        notify_email: Addresses (comma-separated) told as the webhook is
            (``MLNB_NOTIFY_EMAIL``), through ``smtp_url``.
        smtp_url: The SMTP server of notifications' e-mail:
            ``smtp://[USER:PASSWORD@]HOST[:PORT]``, ``smtp+starttls://...``
            or ``smtps://...`` (``MLNB_SMTP_URL``).
        smtp_from: The sender of that e-mail (``MLNB_SMTP_FROM``; default
            ``mlnb@`` this machine's name).
        evaluation_batch_mb: An evaluation of a local file at least this
            large runs as a batch prediction job (``MLNB_EVALUATION_BATCH_MB``;
            a file of another machine, a URL, always does).
        machine_id: What tells this machine from the others that share the
            database (``MLNB_MACHINE_ID``; default its hostname, boot id and
            process namespace, so that two containers with one hostname
            differ).
        cancel_grace_s: Seconds between SIGTERM and SIGKILL when a job is
            cancelled (``MLNB_CANCEL_GRACE_S``).
        job_host_idle_s: The job host, started by the first submission,
            leaves after this long with no job (``MLNB_JOB_HOST_IDLE_S``).
        tokens: Access tokens of the REST server by role, as JSON or a
            ``[tokens]`` table: ``{"viewer": ["..."], "editor": ["..."],
            "developer": ["..."]}`` (``MLNB_TOKENS``). A viewer may get,
            list and predict; an editor may also create, change and delete
            models and versions whose loading runs no code of theirs, and
            run batch prediction jobs; a developer may also deploy pickles
            and custom code and run trainers.
        allowed_roots: Comma-separated folders and buckets (URL prefixes)
            that requests to a server with tokens may name as locations,
            besides the artifact root and ``$MLNB_HOME/files``
            (``MLNB_ALLOWED_ROOTS``).
        batch_max_instances: The most instances the server predicts in one
            call when it batches concurrent requests to a version
            (``MLNB_BATCH_MAX_INSTANCES``).
        serve_inline_ms: A model call that has proven faster than this
            runs in the server's event loop instead of a worker thread
            (``MLNB_SERVE_INLINE_MS``; 0: always in a thread). The default
            is the interpreter's switch interval: a call that holds the GIL
            (most of a scikit-learn call does) blocks the loop that long
            from a thread too.
        dask_scheduler: Address of a Dask scheduler (``tcp://host:8786``):
            job processes run on its workers instead of this machine
            (``MLNB_DASK_SCHEDULER``).
        warm_imports: Libraries that a job host imports once, in the warm
            parent its batch prediction workers are forked from, so that a
            worker loads a model without importing them again
            (``MLNB_WARM_IMPORTS``, comma-separated; ``none``: every worker
            is a fresh interpreter).
        scale_tiers: Replicas per scale tier on this machine, as JSON or a
            ``[scale_tiers]`` table (``{"STANDARD_1": {"workers": 4, "ps": 2}}``);
            a tier's ``kernel`` is the Jupyter kernel of notebook jobs on it.
    """

    home: Path
    database_url: str
    artifact_root: str
    project: str = "default"
    model_quota: int = 100
    version_quota: int = 200
    actor: str = "unknown"
    busy_timeout_s: float = 30.0
    predictor_cache_size: int = 16
    predictor_cache_mb: int = 4096
    resolve_ttl_s: float = 1.0
    skops_trusted_types: str = ""
    max_running_jobs: int = 0
    cluster_max_jobs: int = 0
    job_heartbeat_s: float = 2.0
    job_dead_after_s: float = 30.0
    job_host: str = "auto"
    host_max_jobs: int = 16
    host_drain_s: float = 0.0
    monitor_interval_s: float = 300.0
    evaluation_batch_mb: float = 64.0
    gpus: str = "auto"
    notify_webhook: str = ""
    notify_email: str = ""
    smtp_url: str = ""
    smtp_from: str = ""
    machine_id: str = ""
    cancel_grace_s: float = 10.0
    dask_scheduler: str = ""
    job_host_idle_s: float = 120.0
    tokens: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    allowed_roots: str = ""
    batch_max_instances: int = 256
    serve_inline_ms: float = 5.0
    warm_imports: str = "sklearn.pipeline,xgboost"
    scale_tiers: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)

    @classmethod
    def resolve(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build the settings from arguments, environment, config file, defaults.

        Args:
            env: Environment to read ``MLNB_*`` variables from (default
                ``os.environ``).
            **overrides: Field values that win over everything else.

        Raises:
            InvalidArgument: A value cannot be parsed, or a key is unknown.
        """
        env = os.environ if env is None else env
        home_value = overrides.get("home") or env.get("MLNB_HOME") or "~/.mlnb"
        home = Path(home_value).expanduser().resolve()
        values: dict[str, Any] = {}
        values.update(_read_config_file(home / "config.toml"))
        values.update(_read_environment(env))
        values.update({k: v for k, v in overrides.items() if v is not None})
        values["home"] = home
        values.setdefault("database_url", f"sqlite:///{home / 'mlnb.db'}")
        values.setdefault("artifact_root", str(home / "artifacts"))
        values.setdefault("actor", _login_name())
        values.setdefault("machine_id", this_machine())
        settings = cls(**_coerce(values))
        if settings.max_running_jobs <= 0:
            settings = settings.replace(max_running_jobs=os.cpu_count() or 1)
        if settings.job_host not in JOB_HOST_MODES:
            raise InvalidArgument(
                f"MLNB_JOB_HOST is {settings.job_host!r}; it is one of {', '.join(JOB_HOST_MODES)}"
            )
        return settings

    @property
    def warm_libraries(self) -> list[str] | None:
        """``warm_imports`` as a list; ``None`` when workers start cold."""
        if self.warm_imports.strip().lower() == "none":
            return None
        return [name.strip() for name in self.warm_imports.split(",") if name.strip()]

    @property
    def paths(self) -> HomePaths:
        """Where things live under ``home``."""
        return HomePaths(self.home)

    def project_of(self, project: str | None) -> str:
        """The project a call names, or the default ``project``: the one way
        every part of the Engine resolves it."""
        return project or self.project

    def actor_of(self, actor: str | None) -> str:
        """Who a call acts as: the one it names, or ``actor``."""
        return actor or self.actor

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def to_env(self) -> dict[str, str]:
        """These settings as ``MLNB_*`` variables, for a child process to
        resolve the same settings."""
        env = {}
        for name in _FIELDS:
            value = getattr(self, name)
            env[f"MLNB_{name.upper()}"] = json.dumps(value) if isinstance(value, dict) else str(value)
        return env


_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}


def _read_environment(env: Mapping[str, str]) -> dict[str, str]:
    found = {}
    for name in _FIELDS:
        value = env.get(f"MLNB_{name.upper()}")
        if value not in (None, ""):
            found[name] = value
    return found


def _read_config_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise InvalidArgument(f"Cannot parse {path}: {e}") from e
    section = data.get("mlnb", data)
    unknown = sorted(set(section) - set(_FIELDS) - {"home"})
    if unknown:
        raise InvalidArgument(
            f"Unknown setting(s) {', '.join(unknown)} in {path}; known settings: {', '.join(sorted(_FIELDS))}"
        )
    return {k: v for k, v in section.items() if k != "home"}


def _coerce(values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in values.items():
        kind = _FIELDS[name].type
        try:
            if kind == "int":
                out[name] = int(value)
            elif kind == "float":
                out[name] = float(value)
            elif kind == "str":
                out[name] = str(value)
            elif isinstance(value, str):
                out[name] = json.loads(value)
            else:
                out[name] = value
        except (TypeError, ValueError) as e:
            raise InvalidArgument(f"Setting '{name}' must be a {kind}, got {value!r}") from e
    return out


def this_machine() -> str:
    """``hostname/boot-id/pid-namespace``: processes that see each other's
    pids share it; two containers that share a hostname do not, nor do two
    boots of one machine."""
    host = socket.gethostname()
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()[:8]
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:  # not Linux: the hostname is what there is
        return host
    return f"{host}/{boot}/{namespace}"


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def without_password(url: str) -> str:
    """A setting's URL as it may be shown (``postgresql://ml:***@db/mlnb``):
    a password in it is never printed or logged."""
    from urllib.parse import urlsplit

    try:
        password = urlsplit(url).password
    except ValueError:  # not a URL (a malformed port): nothing to hide
        return url
    return url if password is None else url.replace(f":{password}@", ":***@", 1)
