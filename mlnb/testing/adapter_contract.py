"""The contract every framework adapter passes, shipped for third parties.

Subclass :class:`AdapterContract` in a test module and give it four
fixtures; pytest then runs every check below against your adapter::

    from mlnb.testing import AdapterContract

    class TestMyAdapter(AdapterContract):
        @pytest.fixture
        def adapter(self): return MyAdapter()
        @pytest.fixture
        def trained_model(self): return train_tiny_model()
        @pytest.fixture
        def instances(self): return [[1.0, 2.0], [3.0, 4.0]]
        @pytest.fixture
        def expected(self, trained_model, instances):
            return trained_model.predict(np.asarray(instances))
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlnb.frameworks import FrameworkAdapter, LoadOptions, ModelLoadError, Predictor
from mlnb.prediction import run_prediction, to_jsonable

__all__ = ["AdapterContract"]


class AdapterContract:
    """Checks: protocol shape, save-detect-load round trip, predictions equal
    to the framework's own, JSON-ready output, clear errors on bad folders."""

    rtol = 1e-5

    def test_adapter_has_the_protocol_shape(self, adapter: FrameworkAdapter) -> None:
        assert isinstance(adapter, FrameworkAdapter)
        assert adapter.name == adapter.name.upper()
        assert adapter.file_patterns

    def test_saved_files_are_detected(
        self, adapter: FrameworkAdapter, trained_model: Any, tmp_path: Path
    ) -> None:
        adapter.save(trained_model, tmp_path / "model")
        assert adapter.detect(tmp_path / "model")

    def test_round_trip_predicts_like_the_framework(
        self,
        adapter: FrameworkAdapter,
        trained_model: Any,
        instances: list[Any],
        expected: Any,
        tmp_path: Path,
    ) -> None:
        adapter.save(trained_model, tmp_path / "model")
        predictor = adapter.load(tmp_path / "model", LoadOptions())
        assert isinstance(predictor, Predictor)
        got = to_jsonable(predictor.predict(instances))
        assert len(got) == len(instances)
        np.testing.assert_allclose(
            np.asarray(got, dtype=float), np.asarray(expected, dtype=float), rtol=self.rtol
        )

    def test_predictions_are_json_ready(
        self, adapter: FrameworkAdapter, trained_model: Any, instances: list[Any], tmp_path: Path
    ) -> None:
        import json

        adapter.save(trained_model, tmp_path / "model")
        predictions = run_prediction(adapter.load(tmp_path / "model", LoadOptions()), instances)
        assert json.loads(json.dumps(predictions)) == predictions

    def test_empty_folder_is_refused_clearly(self, adapter: FrameworkAdapter, tmp_path: Path) -> None:
        (tmp_path / "empty").mkdir()
        assert not adapter.detect(tmp_path / "empty")
        with pytest.raises(ModelLoadError):
            adapter.load(tmp_path / "empty", LoadOptions())

    def test_corrupt_file_is_refused_clearly(
        self, adapter: FrameworkAdapter, trained_model: Any, tmp_path: Path
    ) -> None:
        written = adapter.save(trained_model, tmp_path / "model")
        files = [written] if written.is_file() else [p for p in written.rglob("*") if p.is_file()]
        for path in files:
            path.write_bytes(b"\x00corrupt\xff" * 8)
        with pytest.raises(ModelLoadError):
            adapter.load(tmp_path / "model", LoadOptions())
