"""When a schedule's runs fall due, what a host does with those it finds
passed, and how a run's template is filled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from mlnb.errors import InvalidArgument
from mlnb.schedules import Cadence, ScheduleSpec, fill_template, plan_firing

CREATED = datetime(2026, 3, 27, 12, 0, 0, 250_000, tzinfo=UTC)
TEMPLATE = {"jobKind": "k"}


def spec(**fields: object) -> ScheduleSpec:
    return ScheduleSpec.from_api({"jobTemplate": TEMPLATE, **fields})


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_an_interval_counts_from_creation_to_the_second_or_from_its_start() -> None:
    cadence = Cadence(spec(interval="every 6h"), CREATED)
    assert cadence.first(CREATED) == at("2026-03-27T18:00:00")
    assert cadence.next_after(at("2026-03-27T18:00:00")) == at("2026-03-28T00:00:00")
    started = Cadence(spec(interval="2s", startTime="2026-03-27T11:00:00Z"), CREATED)
    assert started.first(CREATED) == at("2026-03-27T12:00:02")  # 11:00 + k * 2 s, from now on


def test_a_cron_is_read_in_its_time_zone_across_a_daylight_saving_change() -> None:
    cadence = Cadence(spec(cron="30 2 * * *", timeZone="Europe/Paris"), CREATED)
    first = cadence.first(CREATED)
    assert first == at("2026-03-28T01:30:00")  # 02:30 in Paris, winter time
    # 02:30 does not exist on the 29th (clocks jump 02:00 -> 03:00): the first time that does.
    second = cadence.next_after(first)  # type: ignore[arg-type]
    assert second is not None and second.astimezone(ZoneInfo("Europe/Paris")).hour == 3
    third = cadence.next_after(second)
    assert third == at("2026-03-30T00:30:00")  # 02:30 in Paris, summer time


def test_no_due_time_past_the_end() -> None:
    cadence = Cadence(spec(interval="1h", endTime="2026-03-27T14:30:00Z"), CREATED)
    assert cadence.next_after(at("2026-03-27T13:00:00")) == at("2026-03-27T14:00:00")
    assert cadence.next_after(at("2026-03-27T14:00:00")) is None
    assert cadence.last_until(at("2026-03-28T00:00:00")) == at("2026-03-27T14:00:00")


@pytest.mark.parametrize(
    ("rule", "late_by", "runs"),
    [("RUN_ONCE", 0.5, True), ("SKIP", 0.5, True), ("RUN_ONCE", 7, True), ("SKIP", 7, False)],
)
def test_a_host_runs_at_most_the_latest_passed_due_time(rule: str, late_by: float, runs: bool) -> None:
    cadence = Cadence(spec(interval="10s", missedRuns=rule, missedAfter="5s"), CREATED)
    first = cadence.first(CREATED)
    assert first is not None
    now = first + timedelta(seconds=40 + late_by)  # five due times passed
    firing = plan_firing(cadence, first, now)
    assert firing.passed == 5 and firing.late == (late_by > 5)
    assert firing.run_time == (first + timedelta(seconds=40) if runs else None)
    assert firing.not_run == (4 if runs else 5)
    assert firing.next_run_time == first + timedelta(seconds=50)


def test_a_long_outage_is_not_walked_one_due_time_at_a_time() -> None:
    cadence = Cadence(spec(cron="* * * * *"), CREATED)
    first = cadence.first(CREATED)
    assert first is not None
    now = first + timedelta(days=30, seconds=10)
    firing = plan_firing(cadence, first, now)
    assert firing.passed == 1000 and firing.run_time == now.replace(second=0, microsecond=0)
    assert firing.next_run_time == firing.run_time + timedelta(minutes=1)  # type: ignore[operator]


def test_a_template_is_filled_in_every_string_and_formats_times_in_the_zone() -> None:
    template = {
        "predictionInput": {
            "inputPaths": ["data/{{ run_time | %Y/%m/%d }}/*.json"],
            "outputPath": "out/{{job_id}}",
        },
        "labels": {"since": "{{ last_success_time | %H%M }}", "n": "{{ run_number }}"},
        "{{ run_time }}": 1,  # keys are left alone
    }
    values = {
        "run_time": at("2026-03-27T23:30:00"),
        "last_success_time": at("2026-03-27T22:00:00"),
        "schedule": "s",
        "job_id": "s_1",
        "run_number": 3,
    }
    filled = fill_template(template, values, ZoneInfo("Europe/Paris"))
    assert filled["predictionInput"]["inputPaths"] == ["data/2026/03/28/*.json"]  # the 28th in Paris
    assert filled["predictionInput"]["outputPath"] == "out/s_1"
    assert filled["labels"] == {"since": "2300", "n": "3"}
    assert filled["{{ run_time }}"] == 1
    plain = fill_template("{{ run_time }}", values, ZoneInfo("Europe/Paris"))
    assert plain == "2026-03-27T23:30:00Z"
    with pytest.raises(InvalidArgument, match="names no value"):
        fill_template("{{ today }}", values, ZoneInfo("UTC"))


def test_a_patch_replaces_the_cadence() -> None:
    updated = spec(interval="1h", maxRuns=3).updated({"cron": "0 * * * *"}, ["cron"])
    assert updated.cron == "0 * * * *" and updated.interval_s is None and updated.max_runs == 3
    cleared = updated.updated({}, ["maxRuns"])
    assert cleared.max_runs is None
    with pytest.raises(InvalidArgument, match="Cannot update state"):
        updated.updated({"state": "PAUSED"}, ["state"])
