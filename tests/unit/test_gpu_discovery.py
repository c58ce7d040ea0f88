"""Which GPUs a machine gives jobs: ``gpus = "auto"`` counts what
``nvidia-smi -L`` lists (here a stand-in script on the PATH, as no GPU is
at hand in the suite), indices name them, and no nvidia-smi means none."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlnb.runtime.replicas import accelerator_type, gpu_types, machine_gpus

LISTED = """GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-5a0c0f9e-1d2b-4c3d-8e9f-000000000000)
GPU 1: Tesla T4 (UUID: GPU-5a0c0f9e-1d2b-4c3d-8e9f-000000000001)
"""


def test_auto_gives_the_gpus_nvidia_smi_lists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "nvidia-smi"
    fake.write_text(f"#!/bin/sh\n[ \"$1\" = -L ] || exit 2\ncat <<'END'\n{LISTED}END\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert machine_gpus("auto") == machine_gpus(" AUTO ") == ["0", "1"]
    assert gpu_types() == ["NVIDIA_H100", "NVIDIA_TESLA_T4"]
    assert machine_gpus("1") == ["1"] and machine_gpus("0, 1") == ["0", "1"] and machine_gpus("") == []


def test_without_nvidia_smi_a_machine_gives_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert machine_gpus("auto") == [] and gpu_types() == []


@pytest.mark.parametrize(
    ("model", "kind"),
    [("Tesla V100-SXM2-16GB", "NVIDIA_TESLA_V100"), ("NVIDIA A100-SXM4-40GB", "NVIDIA_TESLA_A100"),
     ("NVIDIA L4", "NVIDIA_L4")],
)  # fmt: skip
def test_models_are_named_as_ml_engine_names_accelerators(model: str, kind: str) -> None:
    assert accelerator_type(model) == kind
