"""A throwaway PostgreSQL server for the tests: ``initdb`` into a temporary directory, ``pg_ctl`` on a free
port, removed afterwards.

PostgreSQL refuses to run as root, so as root the cluster belongs to the ``postgres`` user that Debian's
package creates (``runuser -u postgres``); as anyone else it runs as that user. The binaries come from
Debian's ``postgresql`` package (``make postgres``, a dependency of ``make test``): a missing server is a
test failure, never a skip.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from tests.ports import free_port

SUPERUSER = "ekai"


def bin_dir() -> Path:
    """The newest ``/usr/lib/postgresql/<version>/bin`` that has ``initdb``; AssertionError when none."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        raise AssertionError(
            "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: "
            "run `make postgres` (Debian's postgresql package)"
        )
    return Path(found[-1]).parent


@dataclass
class PgServer:
    """One private cluster. ``start()``, then ``create_database()`` per test, ``stop()`` at the end."""

    root: Path
    port: int
    bindir: Path

    durable: bool = False  # True: PostgreSQL's default fsync/commit settings (benchmarks)

    @classmethod
    def start(cls, *, durable: bool = False) -> PgServer:
        bindir = bin_dir()
        root = Path(tempfile.mkdtemp(prefix="ekai-pg-"))
        server = cls(root, free_port(), bindir, durable)
        try:
            server._init_and_start()
        except BaseException:
            server.stop()
            raise
        return server

    def _as_owner(self) -> list[str]:
        if os.geteuid() != 0:
            return []
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            raise AssertionError(
                "running as root but there is no 'postgres' user to own the test cluster: "
                "install Debian's postgresql package (`make postgres`)"
            ) from None
        return ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        result = subprocess.run([*self._as_owner(), *args], capture_output=True, text=True, timeout=120)
        if result.returncode:
            raise AssertionError(
                f"{' '.join(args[:2])} failed ({result.returncode}):\n{result.stdout}\n"
                f"{result.stderr}\n{self._log()}"
            )

    def _log(self) -> str:
        log = self.root / "server.log"
        return log.read_text(errors="replace")[-3000:] if log.exists() else ""

    def _init_and_start(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        data = self.root / "data"
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(data),
            "-A",
            "trust",
            "-U",
            SUPERUSER,
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        )
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=200"
        if not self.durable:  # a throwaway test cluster: no need to survive a power cut
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(self.root / "server.log"),
            "-w",
            "-t",
            "60",
            "start",
        )

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        result = subprocess.run(
            [
                str(self.bindir / "psql"),
                "-X",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                self.url(database),
                "-c",
                sql,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode:
            raise AssertionError(f"psql failed: {sql!r}:\n{result.stderr}")
        return result.stdout.strip()

    def create_database(self) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        self.psql(f"CREATE DATABASE {name}")
        return name

    def drop_database(self, name: str) -> None:
        self.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def stop(self) -> None:
        data = self.root / "data"
        if (data / "postmaster.pid").exists():
            subprocess.run(
                [
                    *self._as_owner(),
                    str(self.bindir / "pg_ctl"),
                    "-D",
                    str(data),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ],
                capture_output=True,
                timeout=60,
            )
        shutil.rmtree(self.root, ignore_errors=True)
