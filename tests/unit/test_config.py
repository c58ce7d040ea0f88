from __future__ import annotations

from pathlib import Path

import pytest

from mlnb.config import Settings
from mlnb.errors import InvalidArgument


def test_defaults_live_under_home(tmp_path: Path) -> None:
    settings = Settings.resolve(env={"MLNB_HOME": str(tmp_path)})
    assert settings.home == tmp_path
    assert settings.database_url == f"sqlite:///{tmp_path / 'mlnb.db'}"
    assert settings.artifact_root == str(tmp_path / "artifacts")
    assert settings.project == "default"
    assert settings.model_quota == 100
    assert settings.version_quota == 200


def test_arguments_beat_environment_beat_file(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('[mlnb]\nproject = "from_file"\nmodel_quota = 5\nactor = "f"\n')
    env = {"MLNB_HOME": str(tmp_path), "MLNB_PROJECT": "from_env", "MLNB_ACTOR": "e"}
    settings = Settings.resolve(env=env, project="from_arg")
    assert settings.project == "from_arg"
    assert settings.actor == "e"
    assert settings.model_quota == 5


def test_unknown_key_in_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("modle_quota = 5\n")
    with pytest.raises(InvalidArgument, match="Unknown setting\\(s\\) modle_quota"):
        Settings.resolve(env={"MLNB_HOME": str(tmp_path)})


def test_bad_number_is_named(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="'version_quota' must be a int, got 'many'"):
        Settings.resolve(env={"MLNB_HOME": str(tmp_path), "MLNB_VERSION_QUOTA": "many"})


def test_a_urls_password_is_never_shown() -> None:
    from mlnb.config import without_password

    assert without_password("postgresql://ml:s3cret@db:5432/mlnb") == "postgresql://ml:***@db:5432/mlnb"
    assert without_password("smtps://bot:p%40ss@mail.example.com") == "smtps://bot:***@mail.example.com"
    assert without_password("sqlite:////home/me/.mlnb/mlnb.db") == "sqlite:////home/me/.mlnb/mlnb.db"
    assert without_password("postgresql://ml@db/mlnb") == "postgresql://ml@db/mlnb"  # a user, no password
    assert without_password("http://host:notaport/x") == "http://host:notaport/x"
