"""A throwaway PostgreSQL server for the test process, from the machine's own binaries.

Each test process (each pytest-xdist worker) starts its own on first use. It
lives in a temporary folder, listens on a free 127.0.0.1 port with
trust authentication, runs as the ``postgres`` system user when the tests run as
root (initdb refuses root), and is stopped when the process ends. Without the
binaries or psycopg the PostgreSQL tests are skipped, except under ``CI=true``
where a missing PostgreSQL fails them.
"""

from __future__ import annotations

import atexit
import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile

from twisted.trial.unittest import SkipTest


def _binaries() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return os.path.dirname(found[-1])
    initdb = shutil.which("initdb")
    return os.path.dirname(os.path.realpath(initdb)) if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """One PostgreSQL cluster: start, restart, stop, and a fresh database per test."""

    def __init__(self, bindir: str) -> None:
        self.bindir = bindir
        self.root = os.geteuid() == 0
        self.dir = tempfile.mkdtemp(prefix="ghcrawl-pg-")
        self.data = os.path.join(self.dir, "data")
        self.port = _free_port()
        self._names = itertools.count(1)
        if self.root:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run("initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        self.start()

    def _run(self, tool: str, *args: str) -> None:
        cmd = [os.path.join(self.bindir, tool), *args]
        if self.root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=self.dir)
        if done.returncode:
            raise RuntimeError(f"{tool} failed: {done.stdout[-1000:]} {done.stderr[-1000:]}")

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100")
        self._run("pg_ctl", "-D", self.data, "-o", options, "-l", os.path.join(self.dir, "server.log"), "-w",
                  "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", self.data, "-m", mode, "-w", "stop")

    def restart(self) -> None:
        """Stop (dropping every connection) and start again on the same port."""
        self.stop()
        self.start()

    def uri(self, db: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"

    def database(self) -> str:
        """A new empty database; its URI."""
        import psycopg

        name = f"test_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.uri(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.uri(name)

    def destroy(self) -> None:
        try:
            self.stop("immediate")
        except Exception:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


_server: Server | None = None


def server() -> Server:
    """This process's server, started on first use; skips (or fails under CI) without PostgreSQL."""
    global _server
    if _server is None:
        bindir = _binaries()
        missing = None if bindir else "PostgreSQL binaries (initdb, pg_ctl)"
        try:
            import psycopg  # noqa: F401
        except ImportError:
            missing = missing or "psycopg (pip install 'ghcrawl[postgres]')"
        if missing:
            if os.environ.get("CI") == "true":
                raise RuntimeError(f"CI needs {missing}: the PostgreSQL tests must run there")
            raise SkipTest(f"no {missing}")
        assert bindir is not None
        _server = Server(bindir)
        atexit.register(_server.destroy)
    return _server
