"""The Optuna side of a tuning job: where studies live, the search space of
a HyperparameterSpec, the sampler of its algorithm, and the pruner of early
stopping."""

from __future__ import annotations

import math
from typing import Any

from mlnb.errors import MissingExtra
from mlnb.tuning.spec import ParameterSpec, TuningSpec

__all__ = ["close_study", "create_study", "distributions", "load_study", "study_name", "trainer_value"]

_STUDIES_SCHEMA = "mlnb_studies"


def _optuna() -> Any:
    try:
        import optuna
    except ImportError as e:
        raise MissingExtra("Hyperparameter tuning", "tuning", "optuna") from e
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def study_name(project: str, job_id: str) -> str:
    return f"{project}/{job_id}"


def storage(database_url: str) -> Any:
    """Optuna's storage in mlnb's database. Optuna keeps its own Alembic
    version table, which would clash with mlnb's: on PostgreSQL its tables
    live in a schema of their own, on SQLite in a file beside mlnb's."""
    optuna = _optuna()
    if database_url.startswith("sqlite"):
        base, _, _ = database_url.rpartition(".db")
        url = f"{base}-studies.db" if base else database_url + "-studies"
        return optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 30}})
    import sqlalchemy

    engine = sqlalchemy.create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text(f"CREATE SCHEMA IF NOT EXISTS {_STUDIES_SCHEMA}"))
    engine.dispose()
    options = {"connect_args": {"options": f"-csearch_path={_STUDIES_SCHEMA}"}}
    return optuna.storages.RDBStorage(database_url, engine_kwargs=options)


def distributions(spec: TuningSpec) -> dict[str, Any]:
    """Optuna distributions, one per parameter. A reverse-log parameter is
    sampled log-scaled and mirrored (see ``trainer_value``)."""
    optuna = _optuna()
    out: dict[str, Any] = {}
    for p in spec.params:
        log = p.log or p.reverse_log
        if p.type == "DOUBLE":
            out[p.name] = optuna.distributions.FloatDistribution(p.min_value, p.max_value, log=log)
        elif p.type == "INTEGER":
            out[p.name] = optuna.distributions.IntDistribution(
                int(p.min_value or 0), int(p.max_value or 0), log=log
            )
        elif p.type == "CATEGORICAL":
            out[p.name] = optuna.distributions.CategoricalDistribution(list(p.categorical_values))
        else:
            out[p.name] = optuna.distributions.CategoricalDistribution(list(p.discrete_values))
    return out


def trainer_value(param: ParameterSpec, sampled: Any) -> Any:
    """The value the trainer gets for a sampled one: reverse-log values are
    mirrored, so that they crowd near the top of the range."""
    if param.reverse_log:
        mirrored = (param.min_value or 0) + (param.max_value or 0) - sampled
        return round(mirrored) if param.type == "INTEGER" else mirrored
    if param.type == "INTEGER":
        return int(sampled)
    if param.type == "DISCRETE" and float(sampled).is_integer():
        # discreteValues are JSON numbers: 50 comes back as 50.0, which an
        # argparse type=int refuses; a whole number goes to the trainer as one.
        return int(sampled)
    return sampled


def _grid(spec: TuningSpec) -> dict[str, list[Any]]:
    grid: dict[str, list[Any]] = {}
    for p in spec.params:
        if p.type == "INTEGER":
            grid[p.name] = list(range(int(p.min_value or 0), int(p.max_value or 0) + 1))
        elif p.type == "CATEGORICAL":
            grid[p.name] = list(p.categorical_values)
        else:
            grid[p.name] = list(p.discrete_values)
    return grid


def sampler(spec: TuningSpec, seed: int | None = None) -> Any:
    """ALGORITHM_UNSPECIFIED: TPE (Bayesian) after Sobol start-up trials
    (chosen by ``bench/tuning.py``); RANDOM_SEARCH: random; GRID_SEARCH:
    every grid point once."""
    optuna = _optuna()
    if spec.algorithm == "RANDOM_SEARCH":
        return optuna.samplers.RandomSampler(seed=seed)
    if spec.algorithm == "GRID_SEARCH":
        grid_sampler: Any = optuna.samplers.GridSampler

        class _Grid(grid_sampler):  # type: ignore[misc]
            # GridSampler stops the study once the grid is done, which only
            # works inside study.optimize(); here trials are asked and told,
            # and the job's budget is the grid's size.
            def after_trial(self, *args: Any, **kwargs: Any) -> None:
                return None

        return _Grid(_grid(spec), seed=seed)
    startup = max(3, min(10, spec.max_trials // 4))
    return _SobolThenTpe(optuna, startup, seed)


class _SobolThenTpe:
    """TPE whose first trials come from a scrambled Sobol sequence instead
    of plain random draws: the same number of start-up trials covers the
    space more evenly, which gives TPE a better first model."""

    def __init__(self, optuna: Any, startup: int, seed: int | None) -> None:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            self._sobol = optuna.samplers.QMCSampler(
                qmc_type="sobol",
                scramble=True,
                seed=seed,
                independent_sampler=optuna.samplers.RandomSampler(seed),
            )
        self._tpe = optuna.samplers.TPESampler(
            seed=seed, n_startup_trials=startup, multivariate=True, constant_liar=True
        )
        self._startup = startup
        self._finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)

    def _current(self, study: Any) -> Any:
        done = len(study.get_trials(deepcopy=False, states=self._finished))
        return self._sobol if done < self._startup else self._tpe

    def infer_relative_search_space(self, study: Any, trial: Any) -> Any:
        return self._current(study).infer_relative_search_space(study, trial)

    def sample_relative(self, study: Any, trial: Any, search_space: Any) -> Any:
        return self._current(study).sample_relative(study, trial, search_space)

    def sample_independent(self, study: Any, trial: Any, name: str, distribution: Any) -> Any:
        return self._current(study).sample_independent(study, trial, name, distribution)

    def before_trial(self, study: Any, trial: Any) -> None:
        self._sobol.before_trial(study, trial)
        self._tpe.before_trial(study, trial)

    def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
        self._sobol.after_trial(study, trial, state, values)
        self._tpe.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._sobol.reseed_rng()
        self._tpe.reseed_rng()


def create_study(spec: TuningSpec, database_url: str, name: str, seed: int | None = None) -> Any:
    """The job's study (taken up again if its job host restarted)."""
    optuna = _optuna()
    # Early stopping compares a trial's curve with the median of the trials
    # finished before it at the same step, once two have finished and after
    # the trial's own first three reports.
    pruner = (
        optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=3) if spec.early_stopping else None
    )
    direction = "maximize" if spec.goal == "MAXIMIZE" else "minimize"
    return optuna.create_study(
        storage=storage(database_url),
        study_name=name,
        direction=direction,
        sampler=sampler(spec, seed),
        pruner=pruner or optuna.pruners.NopPruner(),
        load_if_exists=True,
    )


def close_study(study: Any) -> None:
    """Close the study's database connections (a job host outlives many jobs)."""
    held: Any = getattr(study, "_storage", None)
    backend: Any = getattr(held, "_backend", held)
    if hasattr(backend, "remove_session"):
        backend.remove_session()
    engine = getattr(backend, "engine", None)
    if engine is not None:
        engine.dispose()


def load_study(database_url: str, name: str) -> Any | None:
    """An earlier job's study, or ``None``."""
    optuna = _optuna()
    store = storage(database_url)
    try:
        return optuna.load_study(study_name=name, storage=store)
    except KeyError:
        store.remove_session()
        store.engine.dispose()
        return None


def is_finite(value: float) -> bool:
    return not (math.isnan(value) or math.isinf(value))
