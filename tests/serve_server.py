"""A real `zoo serve` in a subprocess on 127.0.0.1 (a free port the server picks and prints), for the serve tests."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Server:
    proc: subprocess.Popen
    url: str
    started: float
    ready: float
    err: list[str] = field(default_factory=list)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_server(*args: str, env: dict[str, str] | None = None, timeout: float = 60.0) -> Server:
    """`zoo serve ARGS --port 0`, once its /healthz answers; stderr is collected in `server.err`."""
    import httpx

    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "zoo", "serve", *args, "--port", "0"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})
    err: list[str] = []
    threading.Thread(target=lambda: err.extend(proc.stderr), daemon=True).start()
    line = proc.stdout.readline()
    found = re.search(r"on (http://\S+?)/ ", line)
    if not found:
        proc.wait(timeout)
        raise RuntimeError(f"zoo serve did not start: {line!r} {''.join(err)}")
    url = found.group(1).replace("0.0.0.0", "127.0.0.1")
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    while time.perf_counter() - started < timeout:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return Server(proc, url, started, time.perf_counter(), err)
        except httpx.TransportError:
            time.sleep(0.02)
    proc.kill()
    raise RuntimeError(f"zoo serve never answered /healthz: {''.join(err)}")
