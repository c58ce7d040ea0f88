"""An S3-compatible server on 127.0.0.1 (moto's server mode) with one
bucket, for the tests that put artifacts, job dirs, packages and batch
files in an object store."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from mlnb.runtime.ports import free_port
from support.waiting import wait_for

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@contextmanager
def s3_server(bucket: str) -> Iterator[dict[str, str]]:
    """Start the server, create ``bucket``; yields the environment that
    points boto (and so s3fs, in this process and its children) at it."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    env = {**CREDENTIALS, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    try:
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        import s3fs

        fs = s3fs.S3FileSystem(skip_instance_cache=True)
        wait_for(lambda: _made(fs, bucket), "the S3 server to answer", timeout=60)
        yield env
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        process.terminate()
        process.wait(timeout=30)


def _made(fs: object, bucket: str) -> bool:
    try:
        fs.mkdir(bucket)  # type: ignore[attr-defined]
    except FileExistsError:
        return True
    except Exception:  # not up yet
        return False
    return True
