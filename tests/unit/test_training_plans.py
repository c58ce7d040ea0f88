from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from mlnb.errors import InvalidArgument
from mlnb.runtime.environments import safe_extract
from mlnb.training import plan_replicas
from mlnb.training.environment import snake_case
from mlnb.training.spec import TrainingSpec


def names(spec: dict[str, object], tiers: dict[str, dict[str, int]] | None = None) -> list[str]:
    return [r.name for r in plan_replicas(spec, tiers)]


def test_tiers_map_to_replicas() -> None:
    assert names({}) == ["master-replica-0"]
    assert names({"scaleTier": "BASIC"}) == ["master-replica-0"]
    assert names({"scaleTier": "STANDARD_1"}) == [
        "master-replica-0",
        "worker-replica-0",
        "worker-replica-1",
        "ps-replica-0",
    ]
    assert plan_replicas({"scaleTier": "BASIC_GPU"})[0].gpus == 1
    assert names({"scaleTier": "STANDARD_1", "useChiefInTfConfig": True})[0] == "chief-replica-0"


def test_tiers_are_configurable() -> None:
    assert names({"scaleTier": "STANDARD_1"}, {"STANDARD_1": {"workers": 1, "ps": 0}}) == [
        "master-replica-0",
        "worker-replica-0",
    ]


def test_custom_tier_reads_counts_and_accelerators() -> None:
    spec = {
        "scaleTier": "CUSTOM",
        "masterType": "n1-highmem-8",
        "workerType": "n1-standard-4",
        "parameterServerType": "n1-standard-4",
        "workerCount": "3",
        "parameterServerCount": 1,
        "workerConfig": {"acceleratorConfig": {"count": "2", "type": "NVIDIA_TESLA_T4"}},
    }
    replicas = plan_replicas(spec)
    assert [r.name for r in replicas][-1] == "ps-replica-0" and len(replicas) == 5
    assert [r.gpus for r in replicas] == [0, 2, 2, 2, 0]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"scaleTier": "MEGA"}, "Unknown scaleTier 'MEGA'; known tiers: BASIC, STANDARD_1"),
        ({"scaleTier": "CUSTOM"}, "CUSTOM needs masterType"),
        ({"scaleTier": "CUSTOM", "masterType": "m", "workerCount": 2}, "needs workerType too"),
        ({"scaleTier": "CUSTOM", "masterType": "m", "workerType": "w", "workerCount": "two"}, "whole number"),
        ({"scaleTier": "CUSTOM", "masterType": "m", "workerType": "w", "workerCount": -1}, "not be negative"),
    ],
)
def test_bad_tiers_are_named(spec: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        plan_replicas(spec)


def trainer_arguments(training_input: dict[str, object]) -> list[str]:
    return TrainingSpec.from_api({"pythonModule": "trainer.task", **training_input}).trainer_arguments()


def test_trainer_arguments_and_job_config() -> None:
    assert trainer_arguments({"args": ["--epochs", 5], "jobDir": "/out"}) == [
        "--epochs",
        "5",
        "--job-dir",
        "/out",
    ]
    assert trainer_arguments({"args": ["--job-dir=/x"], "jobDir": "/out"}) == ["--job-dir=/x"]
    assert snake_case({"scaleTier": "BASIC", "masterConfig": {"imageUri": "x"}}) == {
        "scale_tier": "BASIC",
        "master_config": {"image_uri": "x"},
    }


def _tar(path: Path, members: list[tarfile.TarInfo]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for member in members:
            data = b"x" if member.isfile() else b""
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
    return path


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info


@pytest.mark.parametrize(
    "member",
    [
        _member("../evil.py"),
        _member("/etc/evil.py"),
        _member("pkg/../../evil.py"),
        _member("pkg/link", tarfile.SYMTYPE, "/etc/passwd"),
        _member("pkg/link", tarfile.SYMTYPE, "../../outside"),
        _member("pkg/hard", tarfile.LNKTYPE, "../../outside"),
    ],
    ids=["dotdot", "absolute", "nested-dotdot", "symlink-absolute", "symlink-out", "hardlink-out"],
)
def test_crafted_tar_archives_are_refused(tmp_path: Path, member: tarfile.TarInfo) -> None:
    archive = _tar(tmp_path / "evil.tar.gz", [_member("pkg/ok.py"), member])
    with pytest.raises(InvalidArgument, match=r"Refusing to unpack evil\.tar\.gz"):
        safe_extract(archive, tmp_path / "target")
    assert not (tmp_path / "evil.py").exists()


def test_crafted_zip_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "evil.whl"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("pkg/__init__.py", "")
        zipped.writestr("../../evil.py", "print('pwned')")
    with pytest.raises(InvalidArgument, match=r"member '\.\./\.\./evil\.py' would land outside"):
        safe_extract(archive, tmp_path / "target")


def test_a_clean_archive_unpacks(tmp_path: Path) -> None:
    archive = _tar(
        tmp_path / "ok.tar.gz", [_member("pkg/a.py"), _member("pkg/link", tarfile.SYMTYPE, "a.py")]
    )
    safe_extract(archive, tmp_path / "target")
    assert (tmp_path / "target" / "pkg" / "a.py").read_bytes() == b"x"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("x", "trainingInput must be an object, got str 'x'"),
        ({}, "A training job needs a module to run \\(pythonModule\\)"),
        ({"pythonModule": ["a"]}, "pythonModule must be a string, got list"),
        ({"pythonModule": "t", "packageUris": "a.tar.gz"}, "packageUris must be a list, got str"),
        ({"pythonModule": "t", "packageUris": [5]}, "packageUris\\[\\] must be a string, got int 5"),
        ({"pythonModule": "t", "args": [{"a": 1}]}, "args must be strings, got dict"),
        ({"pythonModule": "t", "jobDir": 7}, "jobDir must be a string, got int 7"),
        ({"pythonModule": "t", "scaleTier": 1}, "scaleTier must be a string, got int 1"),
        ({"pythonModule": "t", "scaleTier": "HUGE"}, "Unknown scaleTier 'HUGE'"),
        ({"pythonModule": "t", "hyperparameters": [1]}, "hyperparameters must be an object, got list"),
    ],
)
def test_a_bad_training_input_is_refused_with_one_message_per_rule(body: object, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        TrainingSpec.from_api(body)


def test_a_training_input_round_trips_with_the_fields_mlnb_does_not_read() -> None:
    body = {
        "pythonModule": "trainer.task",
        "packageUris": ["/p/trainer-0.0.0.tar.gz"],
        "args": ["--epochs", "3"],
        "scaleTier": "CUSTOM",
        "masterType": "n1-standard-4",
        "region": "us-central1",
        "runtimeVersion": "2.11",
    }
    spec = TrainingSpec.from_api(body)
    assert spec.to_api() == body
    assert [r.name for r in spec.replicas()] == ["master-replica-0"]
    assert not spec.tuning and TrainingSpec.from_api({**body, "hyperparameters": {"goal": "MAXIMIZE"}}).tuning
