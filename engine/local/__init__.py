"""Embedded PostgreSQL and Redis for development, tests and single-machine runs.

The servers run as child processes bound to 127.0.0.1; the helpers here are shared by both."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import sys
import time
from pathlib import Path

import psutil

LOCALHOST = "127.0.0.1"


class ServerStartError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCALHOST, 0))
        port: int = sock.getsockname()[1]
        return port


def is_running(pid: int) -> bool:
    """True while `pid` is a live process (a zombie counts as gone)."""
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while is_running(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def terminate(pid: int, sig: signal.Signals = signal.SIGTERM, timeout: float = 10.0) -> None:
    """Sends `sig` to a process that is not our child, then SIGKILL if it outlives `timeout`."""
    for current, wait in ((sig, timeout), (signal.SIGKILL, 5.0)):
        if not is_running(pid):
            return
        try:
            os.kill(pid, current)
        except ProcessLookupError:
            return
        if wait_gone(pid, wait):
            return


def owned_process(pid: int, name: str, workdir: Path) -> bool:
    """True if `pid` runs the executable `name` with `workdir` as working directory or argument."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE or not proc.name().startswith(name):
            return False
        try:
            if Path(proc.cwd()).resolve() == workdir.resolve():
                return True
        except psutil.AccessDenied:
            pass
        return any(str(workdir) in arg for arg in proc.cmdline())
    except psutil.Error:
        return False


def read_pid(path: Path) -> int | None:
    try:
        first = path.read_text().splitlines()[0]
        return int(first.strip())
    except (OSError, IndexError, ValueError):
        return None


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def die_with_parent() -> None:
    """For `subprocess.Popen(preexec_fn=...)`: the child gets SIGTERM when the thread that
    started it ends, so servers never outlive the process that started them, even if it is
    killed outright. Linux only; elsewhere it does nothing. Start servers from the main
    thread."""
    if sys.platform != "linux":
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


_PR_SET_PDEATHSIG = 1
