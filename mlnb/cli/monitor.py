"""``mlnb monitor``: a version's baseline, and the drift of what it serves."""

from __future__ import annotations

from typing import Any

import click

from mlnb.cli.app import CliState, cli, common_options, pass_state
from mlnb.cli.output import table


@cli.group()
def monitor() -> None:
    """Baselines and drift of what versions serve (mlnb)."""


@monitor.command("describe")
@click.option("--data", required=True, help="A .csv, .jsonl or .parquet file.")
@click.option("--target", help="A column to leave out (the true values).")
@common_options
@pass_state
def describe(state: CliState, data: Any, target: str | None) -> dict[str, Any]:
    """Profile data: per feature its kind, count, missing values, mean,
    std and quantiles, or its most frequent values."""
    profile = state.engine.describe_data(data, target)
    if state.out.shows_tables:
        click.echo(table(_shown(profile_rows(profile)), _PROFILE_COLUMNS))
        click.echo(f"{profile['rows']} rows")
    else:
        state.out.data(profile)
    return profile


@monitor.command("baseline")
@click.option("--model", required=True)
@click.option("--version", help="The version; the model's default if unset.")
@click.option("--data", help="Its training data (or a sample): .csv, .jsonl or .parquet.")
@click.option(
    "--served",
    type=click.IntRange(min=1),
    metavar="N",
    help="Instead of --data: the first N instances the version answered (its logged requests).",
)
@click.option("--target", help="The column of the true values, left out.")
@click.option("--webhook", help="Watch the drift: POST an alert (JSON, Slack's text) here when it changes.")
@click.option("--psi-threshold", type=float, help="The PSI past which a feature has drifted (0.2).")
@click.option("--window", type=click.IntRange(1, 100_000), help="Logged requests a check reads (1000).")
@click.option(
    "--max-error-rate",
    type=click.FloatRange(0, 1, max_open=True),
    help="Alert past this share of failed requests.",
)
@click.option(
    "--max-latency-p99-ms",
    type=click.FloatRange(0, min_open=True),
    help="Alert past this p99 of the model's time to answer logged requests.",
)
@common_options
@pass_state
def baseline(
    state: CliState,
    model: str,
    version: str | None,
    data: Any,
    served: int | None,
    target: str | None,
    webhook: str | None,
    psi_threshold: float | None,
    window: int | None,
    max_error_rate: float | None,
    max_latency_p99_ms: float | None,
) -> dict[str, Any]:
    """Give a version its baseline: the profile of its training data and of
    its predictions of it (or of the first --served N instances it
    answered), which drift is measured against. With --webhook
    (or a threshold or window), its drift is watched: by mlnb monitor
    check, and by the team's job hosts every monitor_interval_s."""
    given = {
        "webhook": webhook,
        "psiThreshold": psi_threshold,
        "window": window,
        "maxErrorRate": max_error_rate,
        "maxLatencyP99Ms": max_latency_p99_ms,
    }
    alerting = {k: v for k, v in given.items() if v is not None} or None
    if (data is None) == (served is None):
        raise click.UsageError("Give --data (training data) or --served N (the first N served instances)")
    set_ = state.engine.set_baseline(
        model, data, version=version, target=target, alerting=alerting, served=served
    )
    state.out.changed(
        f"Set the baseline of version [{set_['version']}] of model [{model}]: "
        f"{set_['profile']['rows']} rows of {set_['source']}.",
        set_,
    )
    return set_


@monitor.command("drift")
@click.option("--model", required=True)
@click.option("--version", help="The version; the model's default if unset.")
@click.option("--last", type=click.IntRange(min=1), default=1000, show_default=True, help="Requests read.")
@click.option("--data", help="Measure this data's skew from the baseline instead of served requests.")
@click.option("--target", help="A column of --data to leave out.")
@click.option("--threshold", type=float, help="The PSI past which a feature has drifted (0.2).")
@common_options
@pass_state
def drift(
    state: CliState,
    model: str,
    version: str | None,
    last: int,
    data: Any,
    target: str | None,
    threshold: float | None,
) -> dict[str, Any]:
    """How far a version's served instances (its sampled requests, the
    model's onlinePredictionLogging) have moved from its baseline, per
    feature: PSI, and KS for numbers or chi-squared for categories."""
    answer = state.engine.drift(
        model, version=version, last=last, data=data, target=target, threshold=threshold
    )
    _show_drift(state, answer)
    return answer


@monitor.command("check")
@click.option("--model", required=True)
@click.option("--version", help="The version; the model's default if unset.")
@common_options
@pass_state
def check(state: CliState, model: str, version: str | None) -> dict[str, Any]:
    """Check a version's drift now, as the team's job hosts do on their
    schedule: the figures kept for /metrics, and an alert (the model's
    history, the webhook) when the drifted features change."""
    answer = state.engine.check_drift(model, version=version)
    said = []
    if answer["alerted"]:
        sent = " and sent to the webhook" if (answer.get("delivery") or {}).get("delivered") else ""
        said.append(f"Alert recorded in the model's history{sent}.")
    _show_drift(state, answer, *said)
    return answer


def _show_drift(state: CliState, answer: dict[str, Any], *lines: str) -> None:
    """A drift answer: a table a feature, its summary and ``lines`` in
    table format; the answer as data otherwise."""
    if not state.out.shows_tables:
        state.out.data(answer)
        return
    click.echo(table(_shown(drift_rows(answer)), _DRIFT_COLUMNS))
    for line in (drift_summary(answer), *lines):
        click.echo(line)


_PROFILE_COLUMNS = [
    ("FEATURE", "feature"),
    ("KIND", "kind"),
    ("COUNT", "count"),
    ("MISSING", "missing"),
    ("MEAN", "mean"),
    ("STD", "std"),
    ("MEDIAN", "median"),
    ("TOP", "top"),
]
_DRIFT_COLUMNS = [
    ("FEATURE", "feature"),
    ("KIND", "kind"),
    ("ROWS", "count"),
    ("PSI", "psi"),
    ("KS", "ks"),
    ("CHI2", "chi2"),
    ("P", "pValue"),
    ("DRIFTED", "drifted"),
]


def profile_rows(profile: dict[str, Any]) -> list[dict[str, Any]]:
    """A profile as rows, one a feature."""
    rows = []
    for name, feature in profile["features"].items():
        top = feature.get("top") or {}
        rows.append(
            {
                "feature": name,
                "kind": feature["kind"],
                "count": feature["count"],
                "missing": feature["missing"],
                "mean": feature.get("mean"),
                "std": feature.get("std"),
                "median": (feature.get("quantiles") or {}).get("0.5"),
                "top": ", ".join(f"{k} {v:.0%}" for k, v in list(top.items())[:3]),
            }
        )
    return rows


def drift_rows(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """A drift answer as rows, one a feature (the predictions' last)."""
    features = dict(answer["features"])
    for name, feature in (answer.get("predictions") or {}).get("features", {}).items():
        features[f"prediction {name}" if name != "0" else "prediction"] = feature
    return [
        {
            "feature": name,
            "kind": feature.get("kind"),
            "count": feature.get("count"),
            "psi": feature.get("psi"),
            "ks": feature.get("ks"),
            "chi2": feature.get("chi2"),
            "pValue": feature.get("pValue"),
            "drifted": bool(feature.get("drifted")),
        }
        for name, feature in features.items()
    ]


def drift_summary(answer: dict[str, Any]) -> str:
    drifted = ", ".join(answer["drifted"]) or "none"
    version = answer["version"]
    if answer["kind"] == "skew":
        rows = answer["rows"]
        return (
            f"Skew of {answer['source']} ({rows} rows) from version {version}'s baseline: drifted {drifted}"
        )
    p99 = answer.get("latencyP99Ms")
    latency = f", p99 {p99:.1f} ms" if p99 is not None else ""
    return (
        f"{answer['rows']} instances of version {version}'s last {answer['requests']} logged requests "
        f"({answer['errorRequests']} failed{latency}) against its baseline: "
        f"drifted {drifted} (PSI > {answer['threshold']})"
    )


def _shown(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Figures to four significant digits for a table."""
    return [{k: f"{v:.4g}" if isinstance(v, float) else v for k, v in row.items()} for row in rows]
