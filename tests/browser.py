"""A real headless Chromium (Debian's package), driven over the DevTools protocol with aiohttp's websocket
client: open a page from disk, collect console errors, exceptions and any network request, evaluate
JavaScript, and take a full-page screenshot."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--remote-debugging-port=0",
]


def chromium_binary() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        raise RuntimeError("Chromium is missing: run `make chromium` (scripts/ensure-chromium.sh)")
    return found


@dataclass
class PageVisit:
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)  # every URL the page asked for
    value: Any = None  # what the evaluated expression returned
    screenshot: Path | None = None


class _Session:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse, visit: PageVisit) -> None:
        self.ws = ws
        self.visit = visit
        self.next_id = 0
        self.waiting: dict[int, asyncio.Future] = {}
        self.events: dict[str, asyncio.Event] = {}
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            if "id" in data and data["id"] in self.waiting:
                self.waiting.pop(data["id"]).set_result(data)
                continue
            method, params = data.get("method", ""), data.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
                self.visit.console_errors.append(f"console.{params['type']}: {text}")
            elif method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                text = details.get("exception", {}).get("description") or details.get("text", "")
                self.visit.console_errors.append(f"exception: {text}")
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                entry = params["entry"]
                self.visit.console_errors.append(f"log: {entry.get('text')} {entry.get('url', '')}".strip())
            elif method == "Network.requestWillBeSent":
                self.visit.requests.append(params.get("request", {}).get("url", ""))
            if method in self.events:
                self.events[method].set()

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        future = asyncio.get_running_loop().create_future()
        self.waiting[self.next_id] = future
        await self.ws.send_str(json.dumps({"id": self.next_id, "method": method, "params": params}))
        reply = await asyncio.wait_for(future, 60)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def expect(self, method: str) -> asyncio.Event:
        self.events[method] = asyncio.Event()
        return self.events[method]


def _devtools_port(profile: Path, proc: subprocess.Popen, timeout: float = 30) -> int:
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"Chromium exited with {proc.returncode} before it listened")
        if marker.exists():
            first = marker.read_text().split("\n")[0].strip()
            if first.isdigit():
                return int(first)
        time.sleep(0.05)
    raise RuntimeError("Chromium did not open its DevTools port in time")


async def _visit(port: int, url: str, expression: str, screenshot: Path | None, width: int) -> PageVisit:
    visit = PageVisit()
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/json/list") as resp:
            targets = await resp.json()
        page = next(t for t in targets if t.get("type") == "page")
        async with http.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            s = _Session(ws, visit)
            for domain in ("Runtime", "Log", "Page", "Network"):
                await s.call(f"{domain}.enable")
            await s.call("Emulation.setDeviceMetricsOverride", width=width, height=900, deviceScaleFactor=1,
                         mobile=False)  # fmt: skip
            loaded = s.expect("Page.loadEventFired")
            await s.call("Page.navigate", url=url)
            await asyncio.wait_for(loaded.wait(), 60)
            result = await s.call("Runtime.evaluate", expression=expression, awaitPromise=True,
                                  returnByValue=True)  # fmt: skip
            if "exceptionDetails" in result:
                visit.console_errors.append(f"evaluate: {result['exceptionDetails']}")
            visit.value = result.get("result", {}).get("value")
            if screenshot is not None:
                size = await s.call("Runtime.evaluate", expression="document.documentElement.scrollHeight",
                                    returnByValue=True)  # fmt: skip
                height = min(int(size["result"]["value"]), 20000)
                await s.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                             deviceScaleFactor=1, mobile=False)  # fmt: skip
                await asyncio.sleep(0.5)  # let the responsive charts settle at the new size
                shot = await s.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                screenshot.write_bytes(base64.b64decode(shot["data"]))
                visit.screenshot = screenshot
            await asyncio.sleep(0.2)  # late console messages
            s.reader.cancel()
    return visit


def open_page(url: str, expression: str, screenshot: Path | None = None, width: int = 1400) -> PageVisit:
    """Open `url` in a fresh headless Chromium (a new profile), evaluate `expression` (a promise is
    awaited), optionally screenshot the whole page, and report what the page said and asked for."""
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        proc = subprocess.Popen(
            [chromium_binary(), *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            port = _devtools_port(Path(profile), proc)
            return asyncio.run(_visit(port, url, expression, screenshot, width))
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
