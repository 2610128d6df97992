"""A headless Chromium from the system packages, driven over the DevTools protocol (aiohttp's
websocket client; no browser download): load a page, collect console errors and exceptions,
evaluate JavaScript, take a screenshot."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

BINARIES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    return next((p for p in map(shutil.which, BINARIES) if p), None)


class Page:
    """One page of a headless Chromium (use as ``async with Page.open(url) as page``)."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.ids = 0
        self.errors: list[str] = []
        self.events: list[dict[str, Any]] = []

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        self.ids += 1
        my = self.ids
        await self.ws.send_str(json.dumps({"id": my, "method": method, "params": params}))
        while True:
            msg = json.loads((await self.ws.receive(timeout=60)).data)
            if msg.get("id") == my:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self._event(msg)

    def _event(self, msg: dict[str, Any]) -> None:
        method = msg.get("method", "")
        self.events.append(msg)
        p = msg.get("params", {})
        if method == "Runtime.exceptionThrown":
            self.errors.append(p["exceptionDetails"].get("text", "exception")
                               + " " + str(p["exceptionDetails"].get("exception", {}).get("description", "")))
        elif method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            self.errors.append("console: " + " ".join(str(a.get("value", a.get("description"))) for a in p["args"]))
        elif method == "Log.entryAdded" and p["entry"].get("level") == "error":
            self.errors.append("log: " + p["entry"].get("text", ""))

    async def wait_for(self, method: str, timeout: float = 60) -> None:
        if any(e.get("method") == method for e in self.events):
            return
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while loop.time() < end:
            msg = json.loads((await self.ws.receive(timeout=end - loop.time())).data)
            self._event(msg)
            if msg.get("method") == method:
                return
        raise TimeoutError(method)

    async def evaluate(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    async def screenshot(self) -> bytes:
        data = await self.send("Page.captureScreenshot", format="png")
        return base64.b64decode(data["data"])


async def load(url: str, check: Any) -> Any:
    """Start Chromium, open ``url``, run ``await check(page)`` and return what it returns."""
    import aiohttp

    binary = find_chromium()
    if binary is None:
        raise RuntimeError("no chromium")
    profile = tempfile.mkdtemp(prefix="socratic-chromium-")
    proc = subprocess.Popen(
        [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--remote-debugging-port=0",
         "--window-size=1200,900", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        port = None
        for line in proc.stderr:  # type: ignore[union-attr]
            found = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
            if found:
                port = int(found.group(1))
                break
        if port is None:
            raise RuntimeError("chromium did not start its DevTools server")
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/json/list") as r:
                targets = await r.json(content_type=None)
            ws_url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
            async with http.ws_connect(ws_url, max_msg_size=0) as ws:
                page = Page(ws)
                for domain in ("Runtime", "Log", "Page"):
                    await page.send(f"{domain}.enable")
                await page.send("Page.navigate", url=url)
                await page.wait_for("Page.loadEventFired")
                return await check(page)
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(profile, ignore_errors=True)


def file_url(path: Path) -> str:
    return path.resolve().as_uri()
