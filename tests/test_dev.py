"""``bpo dev`` as a new user runs it: on its embedded servers, in a project with a demo manifest, with other
commands run beside it, stopped with Ctrl-C, after the demo tenant was changed through the API."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from email import policy
from email.parser import BytesParser
from pathlib import Path

import httpx
import pytest

from tests.support.processes import BPO, BpoProcess, free_port

pytestmark = pytest.mark.slow

# Small, so that a start takes seconds: numbered staff users, each linked to a staff profile.
MANIFEST = """\
tenant: {slug: demo, name: Tiny Demo K.K., time_zone: Asia/Tokyo, demo: %(demo)s}
users:
  - {email: admin@demo.example, role: admin, full_name: Demo Administrator}
  - {email: manager@demo.example, role: account_manager, full_name: Aiko Tanaka}
  - {email: staff1@demo.example, role: staff, full_name: Hana Suzuki}
  - {email: staff2@demo.example, role: staff, full_name: Yuto Sato}
  - {email: staff3@demo.example, role: staff, full_name: Mei Takahashi}
staff:
  - {code: ST-001, display_name: Hana Suzuki, user: staff1@demo.example, home_zone: Asia/Tokyo, country: JP}
  - {code: ST-002, display_name: Yuto Sato, user: staff2@demo.example, home_zone: Asia/Tokyo, country: JP}
  - {code: ST-003, display_name: Mei Takahashi, user: staff3@demo.example, home_zone: Asia/Tokyo, country: JP}
"""
# Three clients, each with a contract of little volume and a weekly report to its viewer.
REPORT_VIEWERS = "".join(
    f"  - {{email: viewer-{code.lower()}@demo.example, role: client_viewer, client: {code}}}\n"
    for code in ("RAKUTEN", "EUREKA", "LANCERS")
)
REPORTING = "".join(
    [
        """\
calendars:
  - {code: ALWAYS, name: 24/365, time_zone: Asia/Tokyo, holiday_country: none,
     windows: [{days: [daily], start: "00:00", end: "24:00"}]}
clients:
""",
        *(
            f"""\
  - code: {code}
    name: {name}
    services: [{{code: web, name: Web}}]
    contracts:
      - {{code: {code}-PATROL, name: Patrol, service: web, work_type: patrol, start_date: 2026-01-01,
         status: active, calendar: ALWAYS, expected_monthly_volume: 60,
         rate_plan: {{charges: [{{kind: per_unit, code: posts, name: Posts, unit: post, unit_price: 8}}]}}}}
"""
            for code, name in (("RAKUTEN", "Rakuten"), ("EUREKA", "Eureka"), ("LANCERS", "Lancers"))
        ),
        "reports:\n",
        *(
            f'  - {{client: {code}, cadence: weekly, weekday: 1, send_at: "09:00", language: ja}}\n'
            for code in ("RAKUTEN", "EUREKA", "LANCERS")
        ),
    ]
)
DEMO_PASSWORD = "demo-password"
READY_WITHIN_S = 180
STOPPED_WITHIN_S = 60
MAIL_WITHIN_S = 60


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (state, ppid, pgrp, session, …)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _processes() -> Iterator[tuple[int, list[str]]]:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            yield int(entry.name), fields


def descendants(pid: int) -> set[int]:
    children: dict[int, set[int]] = {}
    for child, fields in _processes():
        children.setdefault(int(fields[1]), set()).add(child)
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), set()) - found:
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def _kill_leftovers(data_dir: Path) -> None:
    """The embedded servers a `bpo dev` killed outright left running (they are daemons of their own)."""
    pid_files = [data_dir / "postgres" / "postmaster.pid"]
    registry = data_dir / "redis.rdb.settings"
    with contextlib.suppress(OSError, ValueError):
        pid_files.append(Path(json.loads(registry.read_text())["pidfile"]))
    for pid_file in pid_files:
        with contextlib.suppress(OSError, ValueError, IndexError):
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)


class Project:
    """A checkout a new user works in: ``tenants/demo.yaml`` and the data dir `.bpo`-like, both throwaway.
    The data dir is under /tmp so that the embedded PostgreSQL's OS user can reach it when run as root."""

    def __init__(self, *, reports: bool = False) -> None:
        self.reports = reports
        self.home = Path(tempfile.mkdtemp(prefix="bpo-dev-home-"))
        self.data_dir = Path(tempfile.mkdtemp(prefix="bpo-dev-data-"))
        (self.home / "tenants").mkdir()
        self.write_manifest()
        self.runs = 0

    def write_manifest(self, *, demo: bool = True) -> None:
        text = MANIFEST % {"demo": str(demo).lower()}
        if self.reports:
            text = text.replace("staff:\n", REPORT_VIEWERS + "staff:\n", 1) + REPORTING
        (self.home / "tenants" / "demo.yaml").write_text(text)

    def env(self) -> dict[str, str]:
        # Only the data dir: `bpo dev` must start (or find) the embedded servers itself.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BPO_", "PROMETHEUS_"))}
        env["BPO_DATA_DIR"] = str(self.data_dir)
        return env

    def bpo(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BPO), *args],
            env=self.env(),
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

    @contextlib.contextmanager
    def dev(self, *args: str) -> Iterator[Dev]:
        self.runs += 1
        running = Dev(self, self.home / f"dev-{self.runs}.log", args)
        try:
            running.wait_ready()
            yield running
        finally:
            running.stop()

    def remove(self) -> None:
        _kill_leftovers(self.data_dir)
        shutil.rmtree(self.data_dir, ignore_errors=True)
        shutil.rmtree(self.home, ignore_errors=True)


class Dev(BpoProcess):
    """`bpo dev` in a session of its own (as the leader of the terminal's foreground process group)."""

    def __init__(self, project: Project, log_path: Path, args: tuple[str, ...]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__(["dev", "--port", str(self.port), *args], project.env(), log_path, cwd=project.home)

    def ready(self) -> bool:
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(f"{self.url}/ready", timeout=5).status_code == 200
        return False

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_WITHIN_S
        while not self.ready():
            assert self.process.poll() is None, f"bpo dev exited {self.process.returncode}:\n{self.log()}"
            assert time.monotonic() < deadline, f"not ready within {READY_WITHIN_S} s:\n{self.log()}"
            time.sleep(0.25)

    def interrupt(self) -> None:
        """Ctrl-C: SIGINT to the terminal's foreground process group, then wait for `bpo dev` to exit."""
        os.killpg(self.process.pid, signal.SIGINT)
        self.process.wait(timeout=STOPPED_WITHIN_S)

    def stop(self) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired, ProcessLookupError):
            if self.process.poll() is None:
                self.interrupt()
        # Whatever is left in its session, children in their own process groups included.
        for pid, fields in _processes():
            if int(fields[3]) == self.process.pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=10)


@pytest.fixture
def project() -> Iterator[Project]:
    made = Project()
    try:
        yield made
    finally:
        made.remove()


@pytest.fixture(scope="module")
def shared_project() -> Iterator[Project]:
    made = Project(reports=True)
    try:
        yield made
    finally:
        made.remove()


@pytest.fixture(scope="module")
def dev(shared_project: Project) -> Iterator[Dev]:
    with shared_project.dev() as running:
        yield running


def banner(dev: Dev) -> str:
    log = dev.log()
    assert "BPO Ops is running" in log, log
    return log[log.index("BPO Ops is running") : log.index("BPO Ops API listening")]


def test_the_banner_lists_every_page(dev: Dev) -> None:
    text = banner(dev)

    for name, path in [
        ("API", ""),
        ("Docs", "/schema"),
        ("OpenAPI", "/schema/openapi.json"),
        ("Dashboard", "/dashboard"),
        ("Health", "/health"),
        ("Ready", "/ready"),
        ("Mailbox", "/dev/mailbox"),
    ]:
        assert any(line.split()[1:3] == [name, f"{dev.url}{path}"] for line in text.splitlines()), text
    assert httpx.get(f"{dev.url}/dashboard", timeout=10).status_code < 400
    # No BPO_SMTP_URL: the embedded mail server runs, and its mailbox leads to the dashboard's sign-in.
    mailbox = httpx.get(f"{dev.url}/dev/mailbox", timeout=10)
    assert (mailbox.status_code, mailbox.headers["location"]) == (303, "/dashboard/dev/mailbox/")


def test_the_banner_shows_one_line_per_role(dev: Dev) -> None:
    text = banner(dev)

    assert f"Demo tenant 'demo' — password: {DEMO_PASSWORD}" in text
    assert "staff1…staff3@demo.example" in text
    assert "staff2@" not in text
    for role, email in [("admin", "admin@demo.example"), ("account_manager", "manager@demo.example")]:
        assert any(line.split()[1:3] == [role, email] for line in text.splitlines() if role in line), text


def test_logs_are_json_when_stderr_is_not_a_terminal(dev: Dev) -> None:
    events = [entry.get("event") for entry in dev.entries()]

    assert "Application startup complete." in events


def test_last_weeks_client_reports_reach_the_mailbox_in_japanese(shared_project: Project, dev: Dev) -> None:
    line = re.search(r"client reports (\d{4}-W\d{2}): mailed for (.*)", dev.log())
    assert line is not None, dev.log()
    assert line[2].strip() == "EUREKA, LANCERS, RAKUTEN"

    mailbox = shared_project.data_dir / "mail"
    deadline = time.monotonic() + MAIL_WITHIN_S
    while True:
        weekly = {}
        for path in mailbox.glob("*.eml"):
            message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
            if "週次レポート" in str(message["Subject"]):
                weekly[str(message["To"])] = str(message["Subject"])
        if len(weekly) >= 3 or time.monotonic() > deadline:
            break
        time.sleep(0.5)

    assert set(weekly) == {f"viewer-{c}@demo.example" for c in ("rakuten", "eureka", "lancers")}, weekly
    for client in ("Rakuten", "Eureka", "Lancers"):
        assert weekly[f"viewer-{client.lower()}@demo.example"].startswith(f"{client} 様 週次レポート"), weekly


def test_a_command_beside_dev_leaves_its_servers_running(shared_project: Project, dev: Dev) -> None:
    exported = shared_project.bpo("tenants", "export", "--slug", "demo")
    planned = shared_project.bpo("tenants", "apply", "--dry-run", "tenants/demo.yaml")

    assert exported.returncode == 0, exported.stderr
    assert "slug: demo" in exported.stdout
    assert planned.returncode == 0, planned.stderr
    # Redis and PostgreSQL stop at once when stopped: a few seconds of answers show they were not.
    for _ in range(8):
        response = httpx.get(f"{dev.url}/ready", timeout=10)
        assert response.status_code == 200, response.text
        time.sleep(0.25)
    assert dev.process.poll() is None


def test_ctrl_c_stops_every_child(project: Project) -> None:
    with project.dev("--no-demo") as running:
        # The API, the Dramatiq parent, its worker process and the scheduler.
        deadline = time.monotonic() + 60
        while len(children := {p for p in descendants(running.process.pid) if alive(p)}) < 3:
            assert time.monotonic() < deadline, children
            time.sleep(0.25)

        running.interrupt()

        deadline = time.monotonic() + 15
        while survivors := {pid for pid in children if alive(pid)}:
            assert time.monotonic() < deadline, f"still running after Ctrl-C: {survivors}"
            time.sleep(0.1)


def _staff(client: httpx.Client) -> dict[str, dict[str, object]]:
    page = client.get("/v1/staff", params={"limit": 100})
    assert page.status_code == 200, page.text
    return {row["code"]: row for row in page.json()["items"]}


def _edit_through_the_api(url: str) -> None:
    """What a user tries first: ST-001's login moved to a new staff profile. The manifest still links it
    to ST-001."""
    with httpx.Client(base_url=url, timeout=30) as client:
        token = client.post(
            "/v1/auth/token",
            json={"tenant": "demo", "email": "admin@demo.example", "password": DEMO_PASSWORD},
        )
        assert token.status_code == 200, token.text
        client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        first = _staff(client)["ST-001"]
        unlinked = client.patch(f"/v1/staff/{first['id']}", json={"user_id": None})
        assert unlinked.status_code == 200, unlinked.text
        moved = client.post(
            "/v1/staff",
            json={
                "code": "ST-009",
                "display_name": "Hana Suzuki (night)",
                "home_zone": "Asia/Tokyo",
                "country": "JP",
                "user_id": first["user_id"],
            },
        )
        assert moved.status_code == 201, moved.text


def test_a_demo_changed_through_the_api_warns_and_reset_restores_it(project: Project) -> None:
    with project.dev() as first:
        _edit_through_the_api(first.url)

    with project.dev() as conflicting:
        log = conflicting.log()
        assert "warning: tenants/demo.yaml does not apply to the demo tenant" in log, log
        assert "staff[0]" in log, log
        assert "--reset-demo" in banner(conflicting)
        assert conflicting.ready()

    with project.dev("--reset-demo") as reset:
        assert "warning:" not in reset.log()
        assert "staff1…staff3@demo.example" in banner(reset)
        applied = project.bpo("tenants", "apply", "tenants/demo.yaml")
        exported = project.bpo("tenants", "export", "--slug", "demo")
        assert reset.ready()

    assert applied.returncode == 0, applied.stderr
    assert "Nothing to change." in applied.stdout, applied.stdout
    assert exported.returncode == 0, exported.stderr
    assert "ST-001" in exported.stdout
    assert "ST-009" not in exported.stdout


def test_reset_demo_leaves_a_tenant_not_marked_demo_alone(project: Project) -> None:
    project.write_manifest(demo=False)
    assert project.bpo("migrate").returncode == 0
    applied = project.bpo("tenants", "apply", "tenants/demo.yaml")
    assert applied.returncode == 0, applied.stderr

    refused = project.bpo("dev", "--reset-demo", "--port", str(free_port()))

    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "not marked as a demo" in refused.stderr
    exported = project.bpo("tenants", "export", "--slug", "demo")
    assert exported.returncode == 0, exported.stderr
    assert "ST-001" in exported.stdout
