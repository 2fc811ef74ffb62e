"""Headless Chromium for the dashboard's dash_duo tests (run: ``pytest tests/browser --headless``).

A missing Chromium or ChromeDriver fails the tests (it does not skip them): ``make browser`` installs
both. ``DASH_TEST_CHROMEPATH`` overrides the browser binary.
"""

from __future__ import annotations

import os
import shutil

import pytest
from selenium.webdriver.chrome.options import Options

CHROMIUM = os.environ.get("DASH_TEST_CHROMEPATH") or shutil.which("chromium") or "/usr/bin/chromium"
WINDOW = (1400, 1000)


def pytest_setup_options() -> Options:
    """dash's hook: the ChromeOptions its webdriver starts with."""
    options = Options()
    options.binary_location = CHROMIUM
    for flag in (
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
    ):
        options.add_argument(flag)
    if not os.environ.get("DISPLAY"):
        options.add_argument("--headless=new")  # nothing to draw on: headless even without --headless
    return options


@pytest.fixture(autouse=True)
def _browser_installed() -> None:
    """Fail fast and clearly (dash would retry for 30 s) when the browser pieces are missing."""
    missing = [
        name
        for name, path in (("chromium", CHROMIUM), ("chromedriver", shutil.which("chromedriver")))
        if not path or not os.access(path, os.X_OK)
    ]
    if missing:
        pytest.fail(
            f"browser tests need {' and '.join(missing)}: run `make browser` "
            "(apt-get install chromium chromium-driver)",
            pytrace=False,
        )
