"""`sceneline stream` as a child process, for tests and benchmarks: start it, read the outcome of
each event it reports (--json prints one JSON object a line), wait for outcomes, stop or kill it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

OutcomeTest = Callable[[dict], bool]


class StreamExited(RuntimeError):
    pass


def sceneline_command() -> list[str]:
    exe = Path(sys.executable).with_name("sceneline")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "sceneline.pipelines.cli"]


class StreamProcess:
    def __init__(self, subscription: str, *, cwd: Path, env: dict[str, str], args: list[str]):
        self.cwd = cwd
        self.outcomes: list[dict] = []
        self._changed = threading.Condition()
        self._stderr = cwd / f"stream-{time.monotonic_ns()}.log"
        command = sceneline_command() + ["stream", "--subscription", subscription, "--json", *args]
        self._log = self._stderr.open("w")
        self.process = subprocess.Popen(command, cwd=cwd, env={**os.environ, **env}, stdout=subprocess.PIPE,
                                        stderr=self._log, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        import json

        for line in self.process.stdout:
            line = line.strip()
            if not line.startswith("{"):
                continue
            with self._changed:
                self.outcomes.append(json.loads(line))
                self._changed.notify_all()

    def log(self) -> str:
        return self._stderr.read_text()

    def _check_alive(self) -> None:
        if self.process.poll() is not None:
            raise StreamExited(f"sceneline stream exited with code {self.process.returncode}:\n{self.log()}")

    def wait_ready(self, timeout_s: float = 180) -> None:
        deadline = time.monotonic() + timeout_s
        while "streaming" not in self.log():
            self._check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"sceneline stream did not start in {timeout_s} s:\n{self.log()}")
            time.sleep(0.2)

    def wait_for(self, test: OutcomeTest, count: int = 1, timeout_s: float = 120) -> list[dict]:
        """Wait until `count` reported outcomes pass `test`; returns them."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                found = [o for o in self.outcomes if test(o)]
                if len(found) >= count:
                    return found
                self._check_alive()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"waited {timeout_s} s for {count} outcome(s), have {len(found)}; "
                                       f"all: {self.outcomes}\n{self.log()[-3000:]}")
                self._changed.wait(timeout=min(remaining, 1.0))

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(timeout=10)
        self._log.close()
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL: no cleanup at all, as in a crash."""
        self.process.kill()
        self.process.wait()
        self._reader.join(timeout=10)
        self._log.close()


def outcome_of(uri: str, *kinds: str) -> OutcomeTest:
    return lambda o: o["uri"] == uri and (not kinds or o["kind"] in kinds)
