"""A PgBouncer process of the test's own (Debian package `pgbouncer`), in front of the test database."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from sqlalchemy.engine import make_url

from tests.support.processes import free_port

# Debian installs it in /usr/sbin, which is not on every user's PATH.
BINARY = shutil.which("pgbouncer") or next(
    (path for path in ("/usr/sbin/pgbouncer", "/usr/local/sbin/pgbouncer") if os.access(path, os.X_OK)), None
)
DATABASE = "bpo"


class PgBouncer:
    """PgBouncer in transaction pooling mode on 127.0.0.1:<free port>, with ``auth_type = trust``.

    ``databases`` maps an alias to extra options for its [databases] line (``pool_size=2``); every
    alias points at the database of ``server_url``, over its unix socket directory or TCP address.
    """

    def __init__(
        self,
        server_url: str,
        users: list[str],
        databases: dict[str, str],
        *,
        pool_size: int = 4,
        ignore_startup_parameters: tuple[str, ...] = ("extra_float_digits",),
    ) -> None:
        assert BINARY is not None
        url = make_url(server_url)
        host = str(url.query.get("host") or url.host or "127.0.0.1")
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="bpo-pgbouncer-"))
        server = f"host={host} port={url.port or 5432} dbname={url.database}"
        lines = [f"{alias} = {server} {options}".rstrip() for alias, options in databases.items()]
        (self.dir / "users.txt").write_text("".join(f'"{user}" ""\n' for user in users))
        (self.dir / "pgbouncer.ini").write_text(
            "\n".join(
                [
                    "[databases]",
                    *lines,
                    "[pgbouncer]",
                    "listen_addr = 127.0.0.1",
                    f"listen_port = {self.port}",
                    "unix_socket_dir =",
                    "auth_type = trust",
                    f"auth_file = {self.dir / 'users.txt'}",
                    "pool_mode = transaction",
                    f"default_pool_size = {pool_size}",
                    "max_client_conn = 1000",
                    f"ignore_startup_parameters = {', '.join(ignore_startup_parameters)}",
                    "",
                ]
            )
        )
        command = [BINARY, str(self.dir / "pgbouncer.ini")]
        if os.geteuid() == 0:
            # PgBouncer refuses to run as root. Run it as the owner of the server's socket directory
            # (the embedded server's OS user), who can reach the socket; otherwise as nobody.
            owner = pwd.getpwuid(Path(host).stat().st_uid).pw_name if host.startswith("/") else "nobody"
            command[1:1] = ["-u", owner]
            self.dir.chmod(0o755)
            for path in self.dir.iterdir():
                path.chmod(0o644)
        self.log_path = self.dir / "pgbouncer.log"
        self._final_log: str | None = None
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        self._wait_listening()

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + 10
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"pgbouncer exited with {self.process.returncode}: {self.log()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"pgbouncer did not listen in 10 s: {self.log()[-2000:]}") from None
                time.sleep(0.05)

    def url(self, user: str, database: str = DATABASE) -> str:
        """For the application's settings."""
        return f"postgresql+asyncpg://{user}@127.0.0.1:{self.port}/{database}"

    def dsn(self, user: str, database: str = DATABASE) -> str:
        """For asyncpg.connect."""
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def log(self) -> str:
        if self._final_log is not None:
            return self._final_log
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self._final_log is None:
            self._final_log = self.log()
        shutil.rmtree(self.dir, ignore_errors=True)
