"""Inbound calls across several call workers behind Kamailio (deploy/kamailio/kamailio.cfg).

Kamailio on 127.0.0.1 with the repository's config; three real ``callrobot dialler``
processes listening for calls (``listen=``), sharing one database in which the service
number plays a short message and hangs up; SIPp calls the number through the proxy, one call
at a time, and fails unless it gets 180, 200 (with the proxy's Record-Route), and the
worker's BYE through the proxy.

(a) calls are spread over the workers; (b) a worker killed with SIGKILL: a call sent to it
goes on to the next worker and succeeds, and the dead worker is taken out of rotation, both
by that failed call (probing paused) and by the OPTIONS probes alone; a listener on its port
proves no INVITE reaches it afterwards; (c) restarted, it answers OPTIONS and takes calls
again. Every wait is a bounded poll; no duration is asserted.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sipp.peers import SIPP, free_port, port_is_free, sipp_uac

from models.db import make_engine, upgrade
from models.number import PhoneNumber
from models.transactions import session_scope
from robot.dialler.campaigns import get_or_create_tenant
from tests.multihost.cluster import Service

from .harness import KAMAILIO, KAMCMD, ROOT, Kamailio, StandIn, wait_for


def _missing_tools() -> str | None:
    if KAMAILIO is None or KAMCMD is None:
        return "kamailio (Debian kamailio) is not installed"
    if SIPP is None:
        return "SIPp (Debian sip-tester) is not installed"
    return None


pytestmark = [
    pytest.mark.kamailio,
    pytest.mark.skipif(_missing_tools() is not None, reason=_missing_tools() or ""),
]

NUMBER = "+12025550100"
ACTIONS = [{"say": {"text": "Hello."}}, {"hangup": {}}]
WORKERS = 3
#: Seconds any one wait may take (worker start, a state change seen in the proxy).
WAIT_S = 90.0


@dataclass
class Worker:
    port: int
    service: Service

    def start(self) -> None:
        self.service.start()
        wait_for(self._listening, WAIT_S, f"worker on port {self.port} to listen")

    def _listening(self) -> bool:
        process = self.service.process
        if process is None or process.poll() is not None:
            raise AssertionError(f"worker exited:\n{self.log_text()[-3000:]}")
        return not port_is_free(self.port)

    def log_text(self) -> str:
        return self.service.log.read_text(errors="replace")

    def received(self, call_id: str) -> bool:
        return f"inbound INVITE {call_id} " in self.log_text()


class Caller:
    """Places one SIPp call at a time through the proxy, each with a Call-ID of its own."""

    def __init__(self, workdir: Path, proxy_port: int) -> None:
        self.workdir = workdir
        self.proxy_port = proxy_port
        self.placed = 0

    def call(self) -> str:
        """Place a call; its Call-ID once SIPp saw it through (AssertionError otherwise)."""
        self.placed += 1
        workdir = self.workdir / f"call-{self.placed}"
        workdir.mkdir(parents=True)
        cid = f"kamcall-{self.placed}-%u@%s"
        with sipp_uac(
            "uac_via_proxy.xml",
            workdir,
            self.proxy_port,
            service=NUMBER,
            extra_args=("-cid_str", cid),
        ) as peer:
            code = peer.wait(90)
        assert code == 0, f"call {self.placed} failed:\n{peer.errors()}"
        return f"kamcall-{self.placed}-1@127.0.0.1"


def _worker_env(database_url: str, port: int, data: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "OMP_NUM_THREADS": "1",
            "CALLROBOT_DATABASE_URL": database_url,
            # The trunk is never dialled here; inbound calls arrive on listen=.
            "CALLROBOT_CARRIER_URL": (
                f"sip://127.0.0.1:{free_port()};local_host=127.0.0.1"
                f";listen=127.0.0.1:{port};numbers={NUMBER}"
            ),
            "CALLROBOT_DATA_DIR": str(data / "data"),
            "CALLROBOT_CACHE_DIR": str(data / "cache"),
            "CALLROBOT_LOG_LEVEL": "INFO",
            "CALLROBOT_VOICEMAIL_DETECTION": "false",
            "CALLROBOT_ADMISSION__ENABLED": "false",
            "CALLROBOT_SPEECH__SHORT_ANSWERS__ENABLED": "false",
            "CALLROBOT_SPEECH__TTS": '{"en": "espeak"}',
            "CALLROBOT_SPEECH__ASR": '{"en": "pocketsphinx"}',
        }
    )
    return env


@contextlib.contextmanager
def running(
    tmp_path: Path, workers: int, stand_ins: tuple[int, ...] = ()
) -> Iterator[tuple[Kamailio, list[Worker], Caller]]:
    """Kamailio with ``workers`` callrobot workers, then the ports in ``stand_ins``, as its
    dispatcher set (in that order); waits until every destination is in rotation."""
    database_url = f"sqlite:///{tmp_path / 'service.db'}"
    engine = make_engine(database_url)
    upgrade(engine)  # once, before the workers start (each would migrate otherwise)
    tenant_id = get_or_create_tenant(engine, "acme")
    with session_scope(engine) as session:
        session.add(
            PhoneNumber(
                tenant_id=tenant_id,
                number=NUMBER,
                routing_secret="rtsec_proxy_0123456789",
                default_actions=ACTIONS,
            )
        )
    engine.dispose()
    started: list[Worker] = []
    for i in range(workers):
        port = free_port()
        env = _worker_env(database_url, port, tmp_path / f"worker-{i}")
        log = tmp_path / f"worker-{i}.log"
        started.append(Worker(port, Service(f"worker-{i}", ["dialler"], env, log)))
    ports = [w.port for w in started] + list(stand_ins)
    proxy = Kamailio(
        tmp_path / "kamailio",
        free_port(),
        ports,
        # Probe every second; two unanswered probes take a worker out. A worker has 5 s to
        # send its first response (100 Trying, sent at once): far more than a busy machine
        # needs, so only a dead worker makes a call go on to the next one.
        {"PING_INTERVAL_S": "1", "PROBING_THRESHOLD": "2", "FR_TIMER_MS": "5000"},
    )
    try:
        for worker in started:
            worker.start()
        proxy.start()
        wait_for(lambda: all(proxy.active(p) for p in ports), WAIT_S, "every worker in rotation")
        yield proxy, started, Caller(tmp_path / "calls", proxy.port)
    finally:
        proxy.stop()
        for worker in started:
            worker.service.stop()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[Kamailio, list[Worker], Caller]]:
    with running(tmp_path, WORKERS) as parts:
        yield parts


def _calls_until(caller: Caller, done: Callable[[list[str]], bool], at_most: int) -> list[str]:
    """Place calls (each must succeed) until ``done(call_ids)`` holds, at most ``at_most``."""
    call_ids: list[str] = []
    while not done(call_ids):
        assert len(call_ids) < at_most, f"not done after {at_most} calls"
        call_ids.append(caller.call())
    return call_ids


def _restart(proxy: Kamailio, dead: StandIn, worker: Worker) -> None:
    """(c) The worker comes back on its port, answers OPTIONS and takes calls again."""
    dead.close()
    worker.start()
    wait_for(lambda: proxy.active(worker.port), WAIT_S, "the restarted worker back in rotation")


def test_calls_spread_fail_over_and_dead_workers_leave_rotation(
    cluster: tuple[Kamailio, list[Worker], Caller],
) -> None:
    proxy, workers, caller = cluster
    # (a) Round-robin: every worker takes calls; each call reached exactly one worker.
    spread = _calls_until(
        caller, lambda ids: all(any(w.received(c) for c in ids) for w in workers), 3 * WORKERS
    )
    assert all(sum(w.received(c) for w in workers) == 1 for c in spread)
    # The proxy record-routed: every call's ACK and the worker's BYE (and its 200) passed it.
    for counter in ("rcv_requests_ack", "rcv_requests_bye", "rcv_replies_2xx_bye"):
        assert proxy.counter(counter) >= len(spread), counter

    # (b1) Probing paused: the first call sent to a killed worker goes on to the next one,
    # and that failure takes the dead worker out of rotation.
    victim, others = workers[1], [workers[0], workers[2]]
    proxy.rpc("dispatcher.ping_active", "0")
    victim.service.kill()
    dead = StandIn(victim.port)
    failed_over = _calls_until(caller, lambda ids: dead.count("INVITE") > 0, 2 * WORKERS)
    assert any(w.received(failed_over[-1]) for w in others)  # the call still got through
    wait_for(lambda: not proxy.active(victim.port), WAIT_S, "the dead worker out of rotation")
    invites = dead.count("INVITE")
    skipped = [caller.call() for _ in range(WORKERS)]
    assert dead.count("INVITE") == invites  # no new call was sent to the dead worker
    assert all(any(w.received(c) for w in others) for c in skipped)

    # (c) Restarted, it answers OPTIONS (probing on again) and takes calls again.
    proxy.rpc("dispatcher.ping_active", "1")
    _restart(proxy, dead, victim)
    _calls_until(caller, lambda ids: any(victim.received(c) for c in ids), 2 * WORKERS)

    # (b2) Without any call: the OPTIONS probes alone find a killed worker dead, and no call
    # is sent to it afterwards.
    victim.service.kill()
    dead = StandIn(victim.port)
    wait_for(lambda: not proxy.active(victim.port), WAIT_S, "probes to find the worker dead")
    wait_for(lambda: dead.count("OPTIONS") > 0, WAIT_S, "probes still sent to the dead worker")
    assert dead.count("INVITE") == 0
    skipped = [caller.call() for _ in range(WORKERS)]
    assert dead.count("INVITE") == 0
    assert all(any(w.received(c) for w in others) for c in skipped)

    # (c) And back again.
    _restart(proxy, dead, victim)
    back = _calls_until(caller, lambda ids: any(victim.received(c) for c in ids), 2 * WORKERS)
    assert all(any(w.received(c) for w in workers) for c in back)


def test_a_refused_call_goes_to_the_next_worker_and_other_numbers_are_not_found(
    tmp_path: Path,
) -> None:
    """A worker that is up (answers OPTIONS) but refuses calls with 503 stays in rotation;
    each call it refuses goes on to the real worker and succeeds."""
    overloaded = StandIn(free_port(), options_status=200, invite_status=503)
    try:
        with running(tmp_path, 1, stand_ins=(overloaded.port,)) as (proxy, (worker,), caller):
            calls = _calls_until(caller, lambda ids: overloaded.count("INVITE") >= 2, 6)
            assert all(worker.received(c) for c in calls)
            assert proxy.active(overloaded.port)  # refusing is not being dead
            assert _status_of_invite(proxy.port, "support") == 404
    finally:
        overloaded.close()


def _status_of_invite(proxy_port: int, user: str) -> int:
    """Send one INVITE for ``user`` to the proxy; the status of its final response."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.bind(("127.0.0.1", 0))
        peer.settimeout(10)
        port = peer.getsockname()[1]
        invite = (
            f"INVITE sip:{user}@127.0.0.1:{proxy_port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKnotours1;rport\r\n"
            f"From: <sip:+12025550170@127.0.0.1:{port}>;tag=n1\r\n"
            f"To: <sip:{user}@127.0.0.1:{proxy_port}>\r\n"
            "Call-ID: not-our-number-1\r\nCSeq: 1 INVITE\r\n"
            f"Contact: <sip:+12025550170@127.0.0.1:{port}>\r\nMax-Forwards: 70\r\n"
            "Content-Length: 0\r\n\r\n"
        )
        peer.sendto(invite.encode(), ("127.0.0.1", proxy_port))
        while True:
            status = int(peer.recv(65535).split(b" ", 2)[1])
            if status >= 200:
                return status
