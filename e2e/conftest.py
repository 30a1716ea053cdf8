"""Shared fixtures: one `turnout serve --demo` process for the whole test session.

The binary defaults to `<repo>/target/debug/turnout`; set `TURNOUT_BIN` to use another build.
The gateway listens on a free port on 127.0.0.1 and the tests talk only to it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
READY_TIMEOUT_S = 20.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _turnout_bin() -> Path:
    env = os.environ.get("TURNOUT_BIN")
    path = Path(env).expanduser().resolve() if env else REPO_ROOT / "target" / "debug" / "turnout"
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.exit(
            f"turnout binary not found at {path}: run `cargo build -p turnout` "
            "or set TURNOUT_BIN to an executable",
            returncode=2,
        )
    return path


def _log_tail(log_path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(log_path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "<no log>"


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def workdir() -> Iterator[Path]:
    # A scratch directory, so a stray ./turnout.toml or database file in the caller's
    # working directory can neither be read nor written.
    path = Path(tempfile.mkdtemp(prefix="turnout-e2e-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def database_url(workdir: Path) -> str:
    return f"sqlite://{workdir / 'e2e.db'}"


@pytest.fixture(scope="session")
def admin_key(workdir: Path, database_url: str) -> str:
    """A management key, made by `turnout keys create --management` as an operator would."""
    out = subprocess.run(
        [str(_turnout_bin()), "keys", "create", "--name", "e2e-admin", "--management",
         "--database-url", database_url],
        cwd=workdir, capture_output=True, text=True, check=True,
    )
    return out.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def gateway(workdir: Path, database_url: str, admin_key: str) -> Iterator[str]:
    """Base URL (`http://127.0.0.1:PORT`) of a running `turnout serve --demo` whose accounts
    live in a SQLite file (so a management key can be made before it starts)."""
    binary = _turnout_bin()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = workdir / "turnout.log"
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        [str(binary), "serve", "--demo", "--listen", f"127.0.0.1:{port}",
         "--database-url", database_url],
        cwd=workdir,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        last_err = "no attempt"
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"turnout exited early with status {proc.returncode}; log:\n{_log_tail(log_path)}",
                    pytrace=False,
                )
            try:
                r = httpx.get(f"{base}/ready", timeout=1.0)
                if r.status_code == 200:
                    break
                last_err = f"/ready -> {r.status_code} {r.text[:200]}"
            except httpx.HTTPError as e:
                last_err = repr(e)
            if time.monotonic() > deadline:
                pytest.fail(
                    f"turnout not ready after {READY_TIMEOUT_S:.0f}s ({last_err}); log:\n{_log_tail(log_path)}",
                    pytrace=False,
                )
            time.sleep(0.1)
        yield base
    finally:
        _stop(proc)
        log.close()


@pytest.fixture(scope="session")
def api_base(gateway: str) -> str:
    """OpenRouter-style base URL: `http://127.0.0.1:PORT/api/v1`."""
    return f"{gateway}/api/v1"


@pytest.fixture(scope="session")
def http(gateway: str) -> Iterator[httpx.Client]:
    """Plain HTTP client for raw-wire tests (no SDK in between)."""
    with httpx.Client(base_url=gateway, timeout=30.0) as client:
        yield client


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (which cannot download browsers here). Skipped
    on a machine without it, except under CI, where .ci/run installs it."""
    executable = _chromium()
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail("CI needs Debian's chromium for the browser tests (.ci/run installs it)")
        pytest.skip("no chromium on this machine (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield b
        b.close()
