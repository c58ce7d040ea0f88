"""A real ``jupyter lab`` and a real Chromium (the system's, headless) for
the browser tests, one of each per test module."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.jupyter import Jupyter, running_jupyter

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Jupyter]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("MLNB_REQUIRE_BROWSER"):
            pytest.fail(f"No Chromium at {CHROMIUM} (make test installs it with apt)")
        pytest.skip(f"No Chromium at {CHROMIUM}: apt-get install chromium")
    with running_jupyter(tmp_path_factory.mktemp("lab"), app="jupyterlab") as server:
        yield server


@pytest.fixture(scope="module")
def page(lab: Jupyter) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(f"{lab.url}/lab?reset&token={lab.token}")
        page.wait_for_selector("#jp-main-dock-panel")
        yield page
        context.close()
        browser.close()
