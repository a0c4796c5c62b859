"""A real headless browser for page tests, driven over the DevTools protocol on a pipe (stdlib only).

Chromium started with `--remote-debugging-pipe` reads protocol commands on fd 3 and writes replies and
events on fd 4, each message a JSON text ended by a NUL byte. `open_page` loads a file URL in a fresh
profile with the network off limits, and returns a `Page` that evaluates JavaScript and has collected
every console error, uncaught exception, log error and non-local request since before navigation.
"""

from __future__ import annotations

import fcntl
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-extensions", "--remote-debugging-pipe")


def find_browser() -> str | None:
    """$CHROME_BIN, else the first Chromium-family browser on PATH, else None."""
    named = os.environ.get("CHROME_BIN")
    if named:
        return shutil.which(named)
    return next((path for path in map(shutil.which, BROWSERS) if path), None)


class Page:
    def __init__(self, browser: str, timeout: float):
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="browser-test-")
        to_child, self._to_browser = os.pipe()
        self._from_browser, from_child = os.pipe()
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_child, from_child)]

        def plumb():  # runs in the child before exec: fds 3 and 4 are what Chromium expects
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)

        self.proc = subprocess.Popen([browser, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     pass_fds=(3, 4), preexec_fn=plumb)
        for fd in (to_child, from_child, *high):
            os.close(fd)
        self._messages: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self._next_id = 0
        self.problems: list[str] = []  # console errors, exceptions, log errors, network requests
        self.session = None

    def _read(self) -> None:
        buffer = b""
        while True:
            chunk = os.read(self._from_browser, 65536)
            if not chunk:
                self._messages.put(None)
                return
            buffer += chunk
            *whole, buffer = buffer.split(b"\0")
            for message in whole:
                self._messages.put(json.loads(message))

    def _note(self, message: dict) -> None:
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            self.problems.append(f"exception: {details.get('exception', {}).get('description', details.get('text'))}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert", "warning"):
            self.problems.append(f"console.{params['type']}: {[a.get('value') for a in params.get('args', [])]}")
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            self.problems.append(f"log: {params['entry'].get('text')}")
        elif method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            if not url.startswith(("file:", "data:", "about:")):
                self.problems.append(f"network request: {url}")

    def send(self, method: str, params: dict | None = None, session: bool = True) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._messages.get(timeout=max(0.01, deadline - time.monotonic()))
            if reply is None:
                raise RuntimeError("the browser closed its DevTools pipe")
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self._note(reply)

    def evaluate(self, expression: str):
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"evaluating {expression!r}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str) -> bool:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.evaluate(expression):
                return True
            time.sleep(0.05)
        return False

    def drain(self) -> list[str]:
        """Take in every message that has arrived; returns the problems seen so far."""
        while True:
            try:
                message = self._messages.get_nowait()
            except queue.Empty:
                return self.problems
            if message is not None:
                self._note(message)

    def close(self) -> None:
        try:
            self.send("Browser.close", session=False)
        except Exception:  # already gone: nothing to close
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_browser)
        shutil.rmtree(self.profile, ignore_errors=True)


def open_page(browser: str, url: str, timeout: float = 30.0) -> Page:
    """A page with `url` loaded (load event seen), all problem channels watched from the start."""
    page = Page(browser, timeout)
    try:
        target = page.send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        page.session = page.send("Target.attachToTarget", {"targetId": target, "flatten": True},
                                 session=False)["sessionId"]
        for domain in ("Runtime", "Log", "Network", "Page"):
            page.send(f"{domain}.enable")
        page.send("Page.navigate", {"url": url})
        if not page.wait_for("document.readyState === 'complete'"):
            raise RuntimeError(f"{url} did not finish loading in {timeout} s")
    except BaseException:
        page.close()
        raise
    return page
