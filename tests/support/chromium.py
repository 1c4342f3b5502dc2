"""Headless Chromium driven over the DevTools protocol with nothing but ``websockets``."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import shutil
import subprocess
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import websockets

from tests.support.requirements import require

BINARY_NAMES = ("chromium", "chromium-browser", "google-chrome")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--remote-debugging-port=0",
]


def chromium_binary() -> str:
    """The Chromium binary (see ``require``: skipped where missing, a failure under CI)."""
    binary = next((path for name in BINARY_NAMES if (path := shutil.which(name))), None)
    require("chromium", binary, "Debian: apt-get install chromium")
    assert binary is not None
    return binary


class DevToolsError(Exception):
    pass


class Chromium:
    """One browser process; ``page()`` opens a tab and returns a session on it. ``flags`` are added to
    the command line (e.g. ``--host-resolver-rules``)."""

    def __init__(self, binary: str, flags: Sequence[str] = ()) -> None:
        self.binary = binary
        self.flags = list(flags)
        self.profile = Path(tempfile.mkdtemp(prefix="bpo-chromium-"))
        self.process: subprocess.Popen[bytes] | None = None
        self.socket: Any = None
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.waiters: dict[tuple[str | None, str], list[asyncio.Future[dict[str, Any]]]] = defaultdict(list)
        self.events: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
        self.reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Chromium:
        self.process = subprocess.Popen(
            [self.binary, *FLAGS, *self.flags, f"--user-data-dir={self.profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # With port 0 Chromium picks a free port and writes it, with the browser's path, to this file.
        active = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (active.exists() and len(active.read_text().splitlines()) >= 2):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise DevToolsError("Chromium did not open its DevTools port")
            await asyncio.sleep(0.05)
        port, path = active.read_text().splitlines()[:2]
        self.socket = await websockets.connect(f"ws://127.0.0.1:{port}{path}", max_size=None)
        self.reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.socket is not None:
            # A browser that already went away needs no closing.
            with contextlib.suppress(Exception):
                await self.send("Browser.close")
        if self.reader is not None:
            self.reader.cancel()
        if self.socket is not None:
            await self.socket.close()
        if self.process is not None:
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.profile, ignore_errors=True)

    async def _read(self) -> None:
        async for raw in self.socket:
            message = json.loads(raw)
            if "id" in message:
                future = self.pending.pop(message["id"], None)
                if future is not None and not future.done():
                    future.set_result(message)
                continue
            session = message.get("sessionId")
            self.events[session].append(message)
            for future in self.waiters.pop((session, message["method"]), []):
                if not future.done():
                    future.set_result(message["params"])

    async def send(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> Any:
        number = next(self.ids)
        message: dict[str, Any] = {"id": number, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[number] = future
        await self.socket.send(json.dumps(message))
        reply = await asyncio.wait_for(future, timeout=30)
        if "error" in reply:
            raise DevToolsError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def expect(self, method: str, session: str | None) -> asyncio.Future[dict[str, Any]]:
        """A future for the next ``method`` event; create it before the action that causes the event."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiters[(session, method)].append(future)
        return future

    async def page(self) -> Page:
        target = await self.send("Target.createTarget", {"url": "about:blank"})
        attached = await self.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})
        page = Page(self, attached["sessionId"])
        for domain in ("Page", "Runtime", "Log"):
            await page.send(f"{domain}.enable")
        return page


class Page:
    def __init__(self, browser: Chromium, session: str) -> None:
        self.browser = browser
        self.session = session

    async def send(self, method: str, params: dict[str, Any] | None = None) -> Any:
        return await self.browser.send(method, params, self.session)

    async def goto(self, url: str) -> None:
        loaded = self.browser.expect("Page.loadEventFired", self.session)
        await self.send("Page.navigate", {"url": url})
        await asyncio.wait_for(loaded, timeout=30)

    async def evaluate(self, expression: str) -> Any:
        result = await self.send(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True}
        )
        if "exceptionDetails" in result:
            raise DevToolsError(f"{expression[:60]}…: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def type_into(self, selector: str, text: str) -> None:
        document = await self.send("DOM.getDocument")
        node = await self.send(
            "DOM.querySelector", {"nodeId": document["root"]["nodeId"], "selector": selector}
        )
        if not node["nodeId"]:
            raise DevToolsError(f"no element matches {selector!r}")
        await self.send("DOM.focus", {"nodeId": node["nodeId"]})
        await self.send("Input.insertText", {"text": text})

    async def press_enter(self) -> None:
        """Submit the focused form the way a person does, then wait for the page it leads to."""
        loaded = self.browser.expect("Page.loadEventFired", self.session)
        key = {"key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13, "text": "\r"}
        await self.send("Input.dispatchKeyEvent", {"type": "keyDown", **key})
        await self.send("Input.dispatchKeyEvent", {"type": "keyUp", **key})
        await asyncio.wait_for(loaded, timeout=30)

    async def set_viewport(self, width: int, height: int, *, mobile: bool) -> None:
        await self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
        )

    async def screenshot(self, path: Path) -> Path:
        """The whole page, not just the viewport."""
        metrics = await self.send("Page.getLayoutMetrics")
        size = metrics["cssContentSize"]
        shot = await self.send(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
            },
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def console_errors(self) -> list[str]:
        entries = [
            e["params"]["entry"] for e in self.browser.events[self.session] if e["method"] == "Log.entryAdded"
        ]
        return [entry["text"] for entry in entries if entry["level"] == "error"]
