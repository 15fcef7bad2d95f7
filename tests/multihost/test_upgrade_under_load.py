"""A worker of the previous release keeps claiming and finishing calls while this release's
``callrobot db upgrade`` runs against the same database.

"The previous release" is the tree of main just before the newest migration landed, taken
from git history (``git archive``) into a temporary folder; its worker runs from there with
``PYTHONPATH`` pointing at it. It calls SIPp callees (busy, or answer and hang up after 2-8 s).
Once calls have ended and others are up, this code's ``db upgrade`` runs; then the calls that
were up must end normally, new leads must still be claimed and finished, and the old worker
must log no error. Once on PostgreSQL (a schema of its own) and once on SQLite.

Needs the history: CI runs in a full clone; a shallow one skips with the reason.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sipp.peers import free_media_port
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

from models.db import make_engine
from models.migrate import _config, code_head, current_revision

from .callees import SIPP, run_callees
from .cluster import ROOT, Service, common_env, free_port, worker_env

pytestmark = pytest.mark.multihost

SCRIPT = Path(__file__).with_name("notice.yaml")
#: Last digit 4-9: answers, talks 2-8 s; 0-1: busy. Mostly answered calls, a few busy.
LEADS = [f"+1212555{i:04d}" for i in range(4, 40) if i % 10 not in (2, 3)][:16]
CALLS_AT_ONCE = 4
BUDGET_S = 110.0
ALL_DAY = dict.fromkeys(("mon", "tue", "wed", "thu", "fri", "sat", "sun"), "00:00-24:00")

SET_UP = """
import json, sys
from models.campaign import CampaignCreate
from models.db import make_engine
from models.script import Script
from models.transactions import session_scope
from robot.dialler import change_status, create_campaign, get_or_create_tenant
from robot.leads import import_rows, rows_from_records

args = json.loads(sys.argv[1])
db = make_engine(args["url"])
tenant_id = get_or_create_tenant(db, "acme")
with session_scope(db) as session:
    script = Script(tenant_id=tenant_id, name="notice", version=1, yaml_text=args["script"])
    session.add(script)
    session.flush()
    script_id = script.id
campaign = create_campaign(db, tenant_id, CampaignCreate(
    name="rolling upgrade", script_id=script_id, script_version=1,
    default_timezone="America/New_York", calling_window={"hours": args["hours"]},
    retry_policy={"max_attempts": 1}, max_concurrent_calls=args["at_once"]))
import_rows(db, campaign.id, rows_from_records([{"phone": n} for n in args["leads"]]))
change_status(db, campaign.id, "start")
print(campaign.id)
"""


def previous_release(into: Path) -> tuple[str, Path]:
    """The commit before the newest migration reached main, unpacked into ``into``."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed: cannot build the previous release")
    newest = ScriptDirectory.from_config(_config()).get_revision(code_head())
    assert newest is not None and newest.path is not None
    path = Path(newest.path).resolve().relative_to(ROOT).as_posix()

    def git(*args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, timeout=60)

    added = git("log", "--first-parent", "--diff-filter=A", "--format=%H", "-1", "--", path)
    commit = added.stdout.decode().strip()
    if added.returncode != 0 or not commit:
        pytest.skip(f"git history does not hold the commit that added {path} (shallow clone?)")
    parent = git("rev-parse", "--verify", "--quiet", f"{commit}^1")
    if parent.returncode != 0:
        pytest.skip(f"git history ends at {commit[:10]}: no release before {path}")
    previous = parent.stdout.decode().strip()
    archive = git("archive", "--format=tar", previous)
    assert archive.returncode == 0, archive.stderr.decode()
    into.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
    return previous, into


@contextlib.contextmanager
def database(backend: str, tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    """An empty database: a SQLite file, or a schema of its own on the test PostgreSQL."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'shared.db'}"
        engine = make_engine(url)
        yield url, engine
        engine.dispose()
        return
    base = os.environ.get("CALLROBOT_TEST_POSTGRES_URL")
    if not base:
        if os.environ.get("CI") == "true":
            pytest.fail("CALLROBOT_TEST_POSTGRES_URL is not set: CI must run this test")
        pytest.skip("CALLROBOT_TEST_POSTGRES_URL is not set")
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = make_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = (
        make_url(base)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )
    engine = make_engine(url)
    try:
        yield url, engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def run_cli(code: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``callrobot ARGS`` from the tree ``code`` (run there, so that it imports from there)."""
    command = [sys.executable, "-c", "from robot.cli import main; main()", *args]
    return subprocess.run(
        command,
        cwd=code,
        env={**env, "PYTHONPATH": str(code)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def calls(engine: Engine) -> list[dict[str, object]]:
    """Every call row (plain SQL: these columns exist in both releases)."""
    query = "SELECT id, started_at, ended_at, outcome, error FROM call ORDER BY id"
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(text(query))]


def pending_leads(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(text("SELECT count(*) FROM lead WHERE status = 'pending'")).one()[0]
        )


def wait(predicate: Callable[[], bool], deadline: float, what: str, worker: Service) -> None:
    while time.monotonic() < deadline:
        assert worker.process is not None and worker.process.poll() is None, (
            "the old worker exited: " + worker.log.read_text(errors="replace")[-3000:]
        )
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what}: " + worker.log.read_text(errors="replace")[-3000:])


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_an_old_worker_keeps_calling_while_the_schema_is_upgraded(
    backend: str, tmp_path: Path
) -> None:
    if SIPP is None:
        if os.environ.get("CI") == "true":
            pytest.fail("SIPp (Debian sip-tester) is not installed: CI must run this test")
        pytest.skip("SIPp (Debian sip-tester) is not installed")
    deadline = time.monotonic() + BUDGET_S
    commit, old = previous_release(tmp_path / "previous")
    newest = code_head()
    # Every revision older than the newest (a merge may bring several migrations at once).
    older = {r.revision for r in ScriptDirectory.from_config(_config()).walk_revisions()} - {newest}
    with contextlib.ExitStack() as stack:
        url, engine = stack.enter_context(database(backend, tmp_path))
        base_env = common_env(
            url, "http://127.0.0.1:9", "unused-metrics-token", tmp_path / "recordings"
        )

        # The previous release makes its schema and its campaign.
        made = run_cli(old, base_env, "db", "upgrade", "--database", url)
        assert made.returncode == 0, made.stderr
        assert current_revision(engine) in older, f"{commit[:10]} is not an earlier release"
        args = {
            "url": url,
            "script": SCRIPT.read_text(),
            "hours": ALL_DAY,
            "at_once": CALLS_AT_ONCE,
            "leads": LEADS,
        }
        set_up = subprocess.run(
            [sys.executable, "-c", SET_UP, json.dumps(args)],
            cwd=old,
            env={**base_env, "PYTHONPATH": str(old)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert set_up.returncode == 0, set_up.stderr

        callees = stack.enter_context(
            run_callees(tmp_path / "callees", free_port(socket.SOCK_DGRAM), free_media_port())
        )
        env = worker_env(base_env, "127.0.0.1", callees.port, tmp_path / "worker")
        env["PYTHONPATH"] = str(old)
        env["CALLROBOT_DIALLER__MAX_CONCURRENT_CALLS"] = str(CALLS_AT_ONCE)
        worker = Service("old-worker", ["dialler"], env, tmp_path / "old-worker.log", cwd=old)
        worker.start()
        stack.callback(worker.stop)

        # Calls have ended and others are up: upgrade now.
        def busy() -> bool:
            rows = calls(engine)
            return sum(r["ended_at"] is not None for r in rows) >= 2 and any(
                r["ended_at"] is None for r in rows
            )

        wait(busy, deadline - 60, "the old worker finished no calls", worker)
        up_at_upgrade = {r["id"] for r in calls(engine) if r["ended_at"] is None}
        upgraded = run_cli(ROOT, {**base_env, "PYTHONPATH": str(ROOT)}, "db", "upgrade", "--json")
        assert upgraded.returncode == 0, upgraded.stderr
        assert json.loads(upgraded.stdout.splitlines()[-1])["revision"] == newest
        assert current_revision(engine) == newest
        last_before = max(int(r["id"]) for r in calls(engine))  # type: ignore[call-overload]

        # The old worker goes on: the calls that were up end, and the rest of the leads are
        # claimed and called on the upgraded schema.
        wait(lambda: pending_leads(engine) == 0, deadline - 15, "leads left uncalled", worker)
        wait(
            lambda: all(r["ended_at"] is not None for r in calls(engine)),
            deadline - 10,
            "calls never ended",
            worker,
        )
        rows = {r["id"]: r for r in calls(engine)}
        assert worker.stop() == 0, "the old worker did not stop cleanly on SIGTERM"

    for call_id in up_at_upgrade:  # up while the schema changed: ended as they should
        assert rows[call_id]["outcome"] in ("human", "busy"), rows[call_id]
        assert rows[call_id]["error"] is None, rows[call_id]
    after = [r for i, r in rows.items() if i > last_before]
    assert after, "the old worker claimed no lead after the upgrade"
    for row in after:
        assert row["outcome"] in ("human", "busy") and row["error"] is None, row
    assert len(rows) == len(LEADS)  # one attempt per lead, none lost, none twice
    summary = {"previous": commit[:10], "up_at_upgrade": len(up_at_upgrade), "after": len(after)}
    print(json.dumps(summary))
    log = worker.log.read_text(errors="replace")
    errors = [
        line
        for line in log.splitlines()
        if '"level": "error"' in line or "Traceback" in line or '"level": "critical"' in line
    ]
    assert not errors, "\n".join(errors[:20])
