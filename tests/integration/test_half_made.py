"""Nothing left half-made: a version whose creating process is killed
reads FAILED once its creation's lease runs out, its operation reads done,
and a reap (or ``mlnb store check --repair``) records it and removes its
partial files; deleting a half-made version removes them too; folders of
the artifact store that no version owns are found and removed."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import model_factory
from support.waiting import wait_for

from mlnb.api import Engine
from mlnb.config import Settings

pytestmark = pytest.mark.integration

# The creator: a process that starts a version's creation as the REST
# server does (the copy and a slow load in a thread), says where it stands,
# and waits to be killed.
CREATOR = """
import json, sys, time
from mlnb.api import Engine
from mlnb.config import Settings

home, origin, package = sys.argv[1:4]
engine = Engine(Settings.resolve(env={}, home=home, job_dead_after_s=2.0, job_heartbeat_s=0.2))
operation = engine.start_version_creation(
    "m", "v1", origin, prediction_class="scaled_sum.ScaledSum", package_uris=[package]
)
print(json.dumps({"operation": operation.operation_id}), flush=True)
time.sleep(600)
"""


@pytest.fixture
def lease_settings(home: Path) -> Settings:
    return Settings.resolve(env={}, home=str(home), actor="tester", job_dead_after_s=2.0, job_heartbeat_s=0.2)


@pytest.fixture
def owner(lease_settings: Settings) -> Iterator[Engine]:
    engine = Engine(lease_settings)
    engine.create_model("m")
    yield engine
    engine.close()


def kill_a_creator_mid_load(home: Path, tmp_path: Path, owner: Engine) -> tuple[str, Path]:
    """Start a creation whose model takes minutes to load, wait until its
    files are copied, kill its process; the operation id and the folder
    its files were copied to."""
    origin, package = model_factory.custom_routine(tmp_path / "slow", load_seconds=300)
    creator = subprocess.Popen(
        [sys.executable, "-c", CREATOR, str(home), str(origin), str(package)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert creator.stdout is not None
        operation = json.loads(creator.stdout.readline())["operation"]
        version = owner.get_version("m", "v1")
        assert version.state == "CREATING" and version.artifact_uri is not None
        copied = Path(version.artifact_uri)
        wait_for((copied / "factor.json").is_file, "the creator to copy the files")
        wait_for(Path(f"{copied}.packages").is_dir, "the creator to copy the package")
    finally:
        creator.kill()
        creator.wait()
        assert creator.stdout is not None
        creator.stdout.close()
    return operation, copied


def test_a_version_whose_creator_died_reads_failed_and_a_reap_removes_its_files(
    home: Path, tmp_path: Path, owner: Engine
) -> None:
    operation, copied = kill_a_creator_mid_load(home, tmp_path, owner)

    failed = wait_for(
        lambda: (v := owner.get_version("m", "v1")).state == "FAILED" and v, "the lease to run out"
    )
    assert "The process creating version 'v1' stopped before it finished" in (failed.error_message or "")
    done = owner.get_operation(operation)
    assert done.done and "stopped before it finished" in (done.error or {}).get("message", "")
    assert copied.is_dir()  # reads write nothing and remove nothing
    found = owner.check_store()
    assert [v.name for v in found.abandoned] == ["v1"] and found.orphans == []

    repaired = owner.check_store(repair=True)

    assert [v.name for v in repaired.abandoned] == ["v1"]
    assert not copied.exists() and not Path(f"{copied}.packages").exists()
    assert [e.action for e in owner.model_history("m")][-1] == "VERSION_FAILED"
    assert owner._operations._operations.get("default", operation).done  # recorded, not only read so
    again = owner.check_store()
    assert (again.abandoned, again.orphans) == ([], [])
    owner.delete_version("m", "v1")
    assert owner.list_versions("m") == []


def test_deleting_a_half_made_version_removes_its_partial_copy(
    home: Path, tmp_path: Path, owner: Engine
) -> None:
    _, copied = kill_a_creator_mid_load(home, tmp_path, owner)
    assert owner.get_version("m", "v1").state == "CREATING"  # its lease has not run out yet

    owner.delete_version("m", "v1")

    assert not copied.exists() and not Path(f"{copied}.packages").exists()
    assert owner.check_store().orphans == []


def test_store_check_finds_and_removes_the_folders_no_version_owns(
    owner: Engine, sklearn_model: tuple[Path, Any], home: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    from mlnb.cli import main

    ready = owner.create_version("m", "v1", sklearn_model[0])
    assert ready.state == "READY"
    stray = Path(owner.settings.artifact_root) / "projects/default/models/m/versions/v9/5f2c"
    stray.mkdir(parents=True)
    (stray / "model.joblib").write_bytes(b"left by a process killed before it recorded the version")
    assert owner.check_store().orphans == [str(stray)]
    monkeypatch.setenv("MLNB_HOME", str(home))

    assert main(["store", "check"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"Folder no version owns: {stray}",
        "Run mlnb store check --repair to end those versions and remove those folders.",
    ]
    assert main(["store", "check", "--repair", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "abandonedVersions": [],
        "orphanFolders": [str(stray)],
        "repaired": True,
    }
    assert not stray.exists()
    assert (
        owner.predict("m", [[5.1, 3.5, 1.4, 0.2]])
        == sklearn_model[1].predict([[5.1, 3.5, 1.4, 0.2]]).tolist()
    )
