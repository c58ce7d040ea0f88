"""One prediction call over any Predictor, and the cache that keeps loaded
versions warm."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from mlnb.errors import InvalidArgument, MlnbError
from mlnb.frameworks import Predictor
from mlnb.prediction.instances import DecodedInstances, decode_each, decode_instances
from mlnb.prediction.outputs import attach_keys, to_jsonable

__all__ = ["PredictorCache", "predict_decoded", "predict_each", "run_prediction"]


def run_prediction(
    predictor: Predictor, instances: Any, key_field: str | None = "key", **kwargs: Any
) -> list[Any]:
    """Validate ``instances`` (unless they are ``DecodedInstances``, checked
    already), predict, and return JSON-ready predictions.

    Raises:
        InvalidArgument: An instance breaks ML Engine's rules, or the model
            rejected the batch (the model's own message is kept).
    """
    if not isinstance(instances, DecodedInstances):
        instances = decode_instances(instances, key_field)
    return predict_decoded(predictor, instances, **kwargs)


def predict_each(
    predictor: Predictor, instances: Any, key_field: str | None = "key", **kwargs: Any
) -> dict[str, Any]:
    """Predict every good instance, and list the bad ones instead of failing
    the batch: ``{"predictions": [p or None, ...], "errors": [{"index",
    "field", "message"}, ...]}``, predictions aligned with the instances.

    Raises:
        InvalidArgument: ``instances`` is not a list, or the model rejected
            the good instances.
    """
    batch, positions, errors = decode_each(instances, key_field)
    predictions: list[Any] = [None] * len(instances)
    if batch.instances:
        for position, prediction in zip(positions, predict_decoded(predictor, batch, **kwargs), strict=True):
            predictions[position] = prediction
    reported = [{"index": e.index, "field": e.field, "message": e.message} for e in errors]
    return {"predictions": predictions, "errors": reported}


def predict_decoded(predictor: Predictor, batch: DecodedInstances, **kwargs: Any) -> list[Any]:
    """Predict checked, decoded instances; JSON-ready, keys put back."""
    rows = batch.array if batch.array is not None and getattr(predictor, "accepts_arrays", False) else None
    try:
        raw = predictor.predict(batch.instances if rows is None else rows, **kwargs)
    except MlnbError:
        raise
    except Exception as e:  # the model's own code: any error is the request's fault or the model's
        raise InvalidArgument(f"The model could not predict these instances: {type(e).__name__}: {e}") from e
    predictions = to_jsonable(raw)
    if not isinstance(predictions, list) or len(predictions) != len(batch):
        count = len(predictions) if isinstance(predictions, list) else 1
        raise MlnbError(f"The model returned {count} predictions for {len(batch)} instances")
    if batch.keys is not None:
        return attach_keys(predictions, batch.keys, batch.key_field)
    return predictions


class PredictorCache:
    """Loaded predictors by key. Past ``size`` entries or ``max_bytes`` of
    weight (0: no bound), the least recently used are dropped first; pinned
    keys and the entry just loaded are never dropped."""

    def __init__(self, size: int, max_bytes: int = 0) -> None:
        self.size = max(1, size)
        self.max_bytes = max(0, max_bytes)
        self._items: OrderedDict[Hashable, tuple[Predictor, int]] = OrderedDict()
        self._pinned: frozenset[Hashable] = frozenset()
        self._lock = threading.Lock()
        # Loads and drops so far: what changed since a caller last looked.
        self.changes = 0

    def get(
        self, key: Hashable, load: Callable[[], Predictor], weigh: Callable[[], int] | None = None
    ) -> Predictor:
        """The cached predictor for ``key``, loaded with ``load`` if absent
        and then weighed with ``weigh`` (bytes)."""
        with self._lock:
            entry = self._items.get(key)
            if entry is not None:
                self._items.move_to_end(key)
                return entry[0]
        predictor = load()
        weight = weigh() if weigh is not None else 0
        with self._lock:
            self._items[key] = (predictor, weight)
            self._items.move_to_end(key)
            self.changes += 1
            self._evict(keep=key)
        return predictor

    def peek(self, key: Hashable) -> Predictor | None:
        """The cached predictor for ``key``, if loaded: no load, no use noted."""
        with self._lock:
            entry = self._items.get(key)
        return entry[0] if entry is not None else None

    def pin(self, keys: set[Hashable]) -> None:
        """Keep exactly these keys (when loaded) from being dropped."""
        with self._lock:
            self._pinned = frozenset(keys)

    def _evict(self, keep: Hashable) -> None:
        while len(self._items) > self.size or (self.max_bytes and self.loaded_bytes() > self.max_bytes):
            victim = next((k for k in self._items if k != keep and k not in self._pinned), None)
            if victim is None:
                return  # everything left is pinned or just loaded: over the bound, but serving
            del self._items[victim]
            self.changes += 1

    def loaded_bytes(self) -> int:
        """The summed weight of the loaded predictors."""
        return sum(weight for _, weight in self._items.values())

    def loaded_keys(self) -> list[Hashable]:
        """The loaded keys, least recently used first."""
        with self._lock:
            return list(self._items)

    def discard(self, match: Callable[[Hashable], bool]) -> None:
        """Drop every entry whose key matches."""
        with self._lock:
            for key in [k for k in self._items if match(k)]:
                del self._items[key]
                self.changes += 1

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items

    def __len__(self) -> int:
        return len(self._items)
