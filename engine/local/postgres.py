"""PostgreSQL 16 from the pgserver wheel, run as our child process on 127.0.0.1 only.

As root the server runs as the system user `pgserver`, which owns the data directory."""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import stat
import subprocess
import tempfile
import time
import warnings
from pathlib import Path
from typing import IO, Any

from engine.local import (
    LOCALHOST,
    ServerStartError,
    die_with_parent,
    free_port,
    log_tail,
    owned_process,
    read_pid,
    terminate,
    wait_gone,
)

DATABASE = "tiketi"
SUPERUSER = "postgres"
SYSTEM_USER = "pgserver"
SOCKET_PREFIX = "tiketi-pg-"
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30

_prepared_binaries = False


def _install_dir() -> Path:
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise ServerStartError("the pgserver package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall"


BIN = _install_dir() / "bin"


def _pgserver_utils() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pgserver import utils
    return utils


def _system_user() -> tuple[int, int] | None:
    """(uid, gid) to run the server as when we are root, else None."""
    if os.geteuid() != 0:
        return None
    entry = _pgserver_utils().ensure_user_exists(SYSTEM_USER)
    return int(entry.pw_uid), int(entry.pw_gid)


def _prepare_binaries() -> None:
    global _prepared_binaries
    if _prepared_binaries:
        return
    utils = _pgserver_utils()
    readable = stat.S_IRGRP | stat.S_IROTH
    utils.ensure_prefix_permissions(BIN)
    utils.ensure_folder_permissions(BIN, readable | stat.S_IXGRP | stat.S_IXOTH)
    for part in ("lib", "share"):
        if (BIN.parent / part).exists():
            utils.ensure_folder_permissions(BIN.parent / part, readable)
    _prepared_binaries = True


class EmbeddedPostgres:
    def __init__(self, data_dir: Path, port: int = 0) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.pgdata = self.data_dir / "pg"
        self.log_path = self.data_dir / "postgres.log"
        self._requested_port = port
        self._port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._socket_dir: Path | None = None
        self._owner: tuple[int, int] | None = None

    @property
    def dsn(self) -> str:
        if self._proc is None or self._port is None:
            raise RuntimeError("the embedded PostgreSQL is not running")
        return f"postgresql://{SUPERUSER}@{LOCALHOST}:{self._port}/{DATABASE}"

    @property
    def port(self) -> int | None:
        return self._port

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> str:
        if self._proc is not None:
            return self.dsn
        self._owner = _system_user()
        self._prepare_dirs()
        self._stop_stale()
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb()
        attempts = 1 if self._requested_port else 2
        for attempt in range(attempts):
            try:
                self._launch(self._requested_port or free_port())
                break
            except ServerStartError:
                if attempt + 1 == attempts:
                    raise
        try:
            self._ensure_database()
        except BaseException:
            self.stop()
            raise
        return self.dsn

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            if proc.poll() is None and not self._pg_ctl_stop():
                proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        finally:
            self._remove_socket_dir(self._socket_dir)
            self._socket_dir = None
            self._port = None

    def _user_kwargs(self) -> dict[str, Any]:
        if self._owner is None:
            return {}
        uid, gid = self._owner
        return {"user": uid, "group": gid, "extra_groups": []}

    def _chown(self, path: Path) -> None:
        if self._owner is not None:
            os.chown(path, *self._owner)

    def _prepare_dirs(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        self.log_path.touch()
        if self._owner is None:
            return
        _prepare_binaries()
        _pgserver_utils().ensure_prefix_permissions(self.pgdata)
        if self.pgdata.stat().st_uid != self._owner[0]:
            for root, dirs, files in os.walk(self.pgdata):
                for name in (*dirs, *files):
                    os.lchown(Path(root) / name, *self._owner)
            self._chown(self.pgdata)
        self.pgdata.chmod(0o700)

    def _stop_stale(self) -> None:
        """Stops a postmaster left running on this data directory by an earlier run."""
        pid_file = self.pgdata / "postmaster.pid"
        pid = read_pid(pid_file)
        if pid is None:
            return
        if not owned_process(pid, "postgres", self.pgdata):
            pid_file.unlink(missing_ok=True)
            return
        lines = pid_file.read_text().splitlines()
        socket_dir = Path(lines[4]) if len(lines) > 4 and lines[4] else None
        if not self._pg_ctl_stop():
            terminate(pid, signal.SIGTERM)
        wait_gone(pid, 10.0)
        self._remove_socket_dir(socket_dir)

    def _remove_socket_dir(self, socket_dir: Path | None) -> None:
        if socket_dir is None or not socket_dir.name.startswith(SOCKET_PREFIX):
            return
        if socket_dir.parent == Path(tempfile.gettempdir()):
            shutil.rmtree(socket_dir, ignore_errors=True)

    def _run(self, args: list[str], timeout: float) -> bool:
        with self.log_path.open("ab") as log:
            try:
                result = subprocess.run(
                    args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    cwd=self.pgdata, timeout=timeout, check=False, **self._user_kwargs(),
                )
            except subprocess.TimeoutExpired:
                return False
        return result.returncode == 0

    def _initdb(self) -> None:
        args = [
            str(BIN / "initdb"), "-D", str(self.pgdata), "-U", SUPERUSER, "--auth=trust",
            "--encoding=UTF8", "--no-locale", "--no-instructions",
        ]
        if not self._run(args, timeout=180):
            raise ServerStartError(f"initdb failed:\n{log_tail(self.log_path)}")

    def _pg_ctl_stop(self) -> bool:
        args = [
            str(BIN / "pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w",
            "-t", str(STOP_TIMEOUT_S), "stop",
        ]
        return self._run(args, timeout=STOP_TIMEOUT_S + 5)

    def _launch(self, port: int) -> None:
        socket_dir = Path(tempfile.mkdtemp(prefix=SOCKET_PREFIX))
        self._chown(socket_dir)
        args = [
            str(BIN / "postgres"), "-D", str(self.pgdata), "-p", str(port),
            "-c", f"listen_addresses={LOCALHOST}", "-k", str(socket_dir),
            "-c", "unix_socket_permissions=0700",
        ]
        with self.log_path.open("ab") as log:
            proc = self._spawn(args, log)
        try:
            self._wait_ready(proc)
        except BaseException:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            self._remove_socket_dir(socket_dir)
            raise
        self._proc, self._port, self._socket_dir = proc, port, socket_dir

    def _spawn(self, args: list[str], log: IO[bytes]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            cwd=self.pgdata, start_new_session=True, preexec_fn=die_with_parent,
            **self._user_kwargs(),
        )

    def _wait_ready(self, proc: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not self._is_ready(proc.pid):
            code = proc.poll()
            if code is not None:
                raise ServerStartError(
                    f"PostgreSQL exited with {code}:\n{log_tail(self.log_path)}"
                )
            if time.monotonic() > deadline:
                raise ServerStartError(f"PostgreSQL not ready:\n{log_tail(self.log_path)}")
            time.sleep(0.05)

    def _is_ready(self, pid: int) -> bool:
        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        return len(lines) >= 8 and lines[0].strip() == str(pid) and lines[7].strip() == "ready"

    def _ensure_database(self) -> None:
        assert self._port is not None
        common = ["-h", LOCALHOST, "-p", str(self._port), "-U", SUPERUSER]
        names = subprocess.run(
            [str(BIN / "psql"), "-X", "-q", "-A", "-t", *common, "-d", "postgres",
             "-c", "SELECT datname FROM pg_database"],
            capture_output=True, text=True, check=True, timeout=30,
        ).stdout.split()
        if DATABASE not in names:
            subprocess.run(
                [str(BIN / "createdb"), *common, DATABASE],
                capture_output=True, check=True, timeout=30,
            )
