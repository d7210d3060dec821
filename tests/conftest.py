"""Test-wide settings."""

import os

# Keras parity tests run Keras 3 on its torch backend (its numpy backend imports JAX).
os.environ.setdefault("KERAS_BACKEND", "torch")


# ------------------------------------------------- one thread per numeric library

import contextlib  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def one_thread():
    """Run a module on one torch and one BLAS thread.

    The numbers tested do not depend on the thread count; on a busy 2-core machine
    two spinning threads per library make these tests several times slower. Use it
    with ``pytestmark = pytest.mark.usefixtures("one_thread")``.
    """
    import torch

    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        limits = contextlib.nullcontext()
    else:
        limits = threadpool_limits(1)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with limits:
        yield
    torch.set_num_threads(before)


# ------------------------------------------------------------ report in a browser

import shutil  # noqa: E402
from pathlib import Path  # noqa: E402

#: Debian's chromium and chromium-driver (.ci/run installs them). Nothing may
#: download a browser or a driver: the paths are given explicitly.
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture(scope="session")
def report_browser():
    """A function ``check(path)`` that opens an HTML report in headless Chromium
    and returns what a test asserts on: every image (``src``, ``complete``,
    ``naturalWidth``), the ids and row counts of the tables, and the URLs of
    every resource the page fetched. Skips when chromium or chromedriver is
    missing."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not Path(path).is_file()]
    if missing:
        found = shutil.which("chromium") or shutil.which("chromedriver")
        pytest.skip(f"{' and '.join(missing)} not installed (apt-get install chromium "
                    f"chromium-driver; found on PATH: {found})")
    from selenium import webdriver  # the test extra installs it: never skipped
    from selenium.webdriver.chrome.service import Service

    previous = os.environ.get("SE_OFFLINE")
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager: never download anything
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1280,2000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER),
                              options=options)
    driver.set_page_load_timeout(60)

    def check(path):
        driver.get(Path(path).resolve().as_uri())
        state = driver.execute_script("return document.readyState")
        images = driver.execute_script(
            "return Array.from(document.images).map(img => ({src: img.src, "
            "complete: img.complete, naturalWidth: img.naturalWidth}));")
        tables = driver.execute_script(
            "return Object.fromEntries(Array.from(document.querySelectorAll("
            "'table')).map(t => [t.id, t.querySelectorAll('tbody tr, tr').length]));")
        resources = driver.execute_script(
            "return performance.getEntriesByType('resource').map(r => r.name);")
        return {"state": state, "images": images, "tables": tables,
                "resources": resources, "title": driver.title}

    try:
        yield check
    finally:
        driver.quit()
        if previous is None:
            os.environ.pop("SE_OFFLINE", None)
        else:
            os.environ["SE_OFFLINE"] = previous
