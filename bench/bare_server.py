"""The floor mlnb's serving path is measured against: one Starlette route
on the same uvicorn (httptools, uvloop), orjson in and out, the model
called in the event loop, nothing else (no checks, no batching, no
metrics, no logging). ``bench/serve.py`` starts it; by hand:

    .venv/bin/python bench/bare_server.py --model MODEL.pkl --port 8081
"""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path
from typing import Any


def build_app(model: Any) -> Any:
    import numpy as np
    import orjson
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def predict(request: Request) -> Response:
        body = orjson.loads(await request.body())
        predictions = model.predict(np.asarray(body["instances"], dtype=float))
        return Response(orjson.dumps({"predictions": predictions.tolist()}), media_type="application/json")

    async def ping(_: Request) -> Response:
        return Response(b"ok")

    return Starlette(routes=[Route("/predict", predict, methods=["POST"]), Route("/ping", ping)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, type=Path, help="A pickled model with predict().")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    import uvicorn

    model = pickle.loads(args.model.read_bytes())  # noqa: S301 - the benchmark's own file
    uvicorn.run(build_app(model), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
