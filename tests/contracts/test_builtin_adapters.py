"""The shipped adapter contract, run against every built-in adapter."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mlnb.frameworks import FrameworkAdapter
from mlnb.testing import AdapterContract

SAMPLES = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]


class TestSklearnAdapter(AdapterContract):
    @pytest.fixture
    def adapter(self) -> FrameworkAdapter:
        from mlnb.frameworks.sklearn import SklearnAdapter

        return SklearnAdapter()

    @pytest.fixture
    def trained_model(self, sklearn_model: tuple[Any, Any]) -> Any:
        return sklearn_model[1]

    @pytest.fixture
    def instances(self) -> list[Any]:
        return SAMPLES

    @pytest.fixture
    def expected(self, trained_model: Any, instances: list[Any]) -> Any:
        return trained_model.predict(np.asarray(instances))


class TestXGBoostAdapter(AdapterContract):
    @pytest.fixture
    def adapter(self) -> FrameworkAdapter:
        from mlnb.frameworks.xgboost import XGBoostAdapter

        return XGBoostAdapter()

    @pytest.fixture
    def trained_model(self, xgboost_model: tuple[Any, Any]) -> Any:
        return xgboost_model[1]

    @pytest.fixture
    def instances(self) -> list[Any]:
        return SAMPLES

    @pytest.fixture
    def expected(self, trained_model: Any, instances: list[Any]) -> Any:
        import xgboost as xgb

        return trained_model.predict(xgb.DMatrix(np.asarray(instances)))


@pytest.mark.slow
class TestKerasAdapter(AdapterContract):
    @pytest.fixture
    def adapter(self) -> FrameworkAdapter:
        from mlnb.frameworks.tensorflow import TensorFlowAdapter

        return TensorFlowAdapter()

    @pytest.fixture
    def trained_model(self, keras_model: tuple[Any, Any]) -> Any:
        return keras_model[1]

    @pytest.fixture
    def instances(self) -> list[Any]:
        return SAMPLES

    @pytest.fixture
    def expected(self, trained_model: Any, instances: list[Any]) -> Any:
        return trained_model.predict(np.asarray(instances), verbose=0)
