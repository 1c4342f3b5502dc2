"""The real app served by uvicorn in a thread of the test process, on 127.0.0.1."""

from __future__ import annotations

import threading
import time

import uvicorn

from bpo.app import create_asgi
from bpo.settings import Settings
from tests.support.processes import free_port


class ServerThread:
    def __init__(self, settings: Settings) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(
                create_asgi(settings), host="127.0.0.1", port=self.port, log_config=None, lifespan="on"
            )
        )
        self.thread = threading.Thread(target=self.server.run, name="api", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the API server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
