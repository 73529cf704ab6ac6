"""A real Streamlit server and Debian's Chromium driven by Playwright (see shared TESTING-E2E)."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.conftest import DEMO, ROOT


def chromium_path() -> str | None:
    path = os.environ.get("CHROMIUM_PATH")
    if path and Path(path).exists():
        return path
    return shutil.which("chromium")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    path = chromium_path()
    if not path:
        pytest.fail("Chromium not found: install Debian's `chromium` package (.ci/run does) or set CHROMIUM_PATH.")
    return {**browser_type_launch_args, "executable_path": path, "args": ["--disable-gpu"]}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1400, "height": 1000}, "locale": "ru-RU"}


@contextmanager
def streamlit_server(tmp: Path, cache_dir: Path, **env_extra):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "VECSCOPE_DATA_DIR": str(DEMO), "VECSCOPE_LABELS": str(tmp / "labels.csv"),
           "VECSCOPE_CACHE_DIR": str(cache_dir), "VECSCOPE_MODELS_DIR": str(tmp / "models"),
           "VECSCOPE_MODELS_YAML": str(ROOT / "data" / "models.yaml"), **env_extra}
    log = open(tmp / "server.log", "w")
    proc = subprocess.Popen(
        # everything else (no file watcher, no usage stats, minimal toolbar) comes from the shipped
        # .streamlit/config.toml, so the browser tests run the configuration users get
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                break
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            pytest.fail(f"streamlit did not start:\n{(tmp / 'server.log').read_text()}")
        time.sleep(0.2)
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture
def server(tmp_path, warm_cache):
    """A fresh server per test: its first browser session is the server's first one."""
    with streamlit_server(tmp_path, warm_cache) as url:
        yield url


def wait_for_app(page, initial_wait_ms: int = 300, timeout_ms: int = 60_000) -> None:
    page.wait_for_timeout(initial_wait_ms)
    app = page.locator("[data-testid='stApp']")
    expect(app).to_have_attribute("data-test-connection-state", "CONNECTED", timeout=timeout_ms)
    expect(app).to_have_attribute("data-test-script-state", "notRunning", timeout=timeout_ms)
    expect(page.get_by_test_id("stSkeleton")).to_have_count(0, timeout=timeout_ms)
