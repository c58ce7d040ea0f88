from __future__ import annotations

import subprocess
import sys

import mlnb
from mlnb import errors


def test_errors_carry_canonical_status_and_builtin_bases() -> None:
    assert issubclass(errors.InvalidArgument, ValueError)
    assert issubclass(errors.NotFound, LookupError)
    assert issubclass(errors.MissingExtra, ImportError)
    cases = {
        errors.InvalidArgument: ("INVALID_ARGUMENT", 400),
        errors.NotFound: ("NOT_FOUND", 404),
        errors.AlreadyExists: ("ALREADY_EXISTS", 409),
        errors.FailedPrecondition: ("FAILED_PRECONDITION", 400),
        errors.ResourceExhausted: ("RESOURCE_EXHAUSTED", 429),
        errors.PermissionDenied: ("PERMISSION_DENIED", 403),
        errors.ModelLoadError: ("FAILED_PRECONDITION", 400),
        errors.MlnbError: ("INTERNAL", 500),
    }
    for cls, (status, http) in cases.items():
        assert issubclass(cls, errors.MlnbError)
        assert (cls.status, cls.http) == (status, http)
    body = errors.NotFound("no such model").to_json()
    assert body == {"error": {"code": 404, "message": "no such model", "status": "NOT_FOUND"}}


def test_errors_name_api_fields_and_the_cli_adds_its_flag() -> None:
    from mlnb.cli.output import error_line

    error = errors.InvalidArgument(
        "A training job needs a module to run (pythonModule)", field="pythonModule"
    )
    assert "--" not in error.message and error.to_json()["error"]["message"] == error.message
    assert error_line(error) == f"{error.message}. Option: --module-name"
    assert error_line(errors.InvalidArgument("bad", field="noSuchField")) == "bad"
    assert error_line(errors.MissingExtra("An XGBoost model", "xgboost", "xgboost")).startswith("An XGBoost")


def test_missing_extra_names_the_pip_extra() -> None:
    error = errors.MissingExtra("An XGBoost model", "xgboost", "xgboost")
    assert "pip install 'mlnb[xgboost]'" in str(error)


def test_import_mlnb_stays_light() -> None:
    code = (
        "import sys, mlnb; heavy = ['tensorflow', 'keras', 'xgboost', 'sklearn', 'sqlalchemy', "
        "'alembic', 'optuna', 'ipywidgets', 'uvicorn', 'pandas', 'numpy', 'torch']; "
        "print(','.join(m for m in heavy if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == ""


def test_public_names_resolve() -> None:
    for name in mlnb.__all__:
        assert getattr(mlnb, name) is not None
