"""`bpo serve --workers N`: N server processes share the port, and /metrics counts the requests of all
of them, whichever answers (Prometheus multiprocess mode)."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import httpx
import psutil

from bpo.settings import Settings
from tests.support.processes import BPO, command_env, free_port

REQUESTS = 40


def test_serve_with_two_workers_runs_two_processes_and_counts_all_requests(
    settings: Settings, tmp_path: Path
) -> None:
    env = command_env(settings, BPO_LOG_LEVEL="WARNING")
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(
        [str(BPO), "serve", "--workers", "2", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "bpo serve --workers 2 did not answer in 60 s"
            time.sleep(0.1)
        workers = [p for p in psutil.Process(server.pid).children() if "spawn_main" in " ".join(p.cmdline())]
        assert len(workers) == 2, [p.cmdline() for p in psutil.Process(server.pid).children()]

        before = health_requests(url)
        # A new connection per request, so the kernel spreads them over both processes.
        for _ in range(REQUESTS):
            with httpx.Client(base_url=url, timeout=5) as client:
                assert client.get("/health").status_code == 200

        assert health_requests(url) - before == REQUESTS
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=5)
        log.close()
    assert server.returncode == 0, (tmp_path / "serve.log").read_text()


def health_requests(url: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=5).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("bpo_http_requests_total{") and 'route="/health"' in line
    )
