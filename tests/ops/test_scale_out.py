"""Scale-out on one PostgreSQL: two app processes behind one address, two delivery workers, one shared Redis.

The layout of the operator guide (docs/operator/scaling.md), run for real on loopback: two gunicorn masters on
two ports with nginx in front (the shipped sample, deploy/nginx-helpdesk.conf, with both as its upstream),
two ``helpdesk worker`` processes, the rate-limit counters in Redis, a fake Slack and a fake forum. Then:

- the same signed Slack events and forum webhooks are sent to both apps at the same moment (and a Slack
  retry through nginx): every question is one ticket, every delivery key one ledger row;
- staff answer every ticket through the API of either app; a worker is killed with SIGKILL while Slack holds
  its request, a new one starts beside the survivor: every acknowledgement and every answer reaches Slack or
  the forum exactly once;
- delegates sign up concurrently through nginx: the seats held are exactly the cap, the rest wait in line;
- one client alternating between the two apps meets one rate limit, not one per process;
- the search index and the triage model, built before start-up, are read by every process and written by none.

PostgreSQL only (HELPDESK_TEST_DATABASE_URL); Redis at 127.0.0.1:6379 (HELPDESK_TEST_REDIS_URL to change).
Outside CI a missing server skips with the reason; in CI (CI=true) it fails.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

import helpdesk.models  # noqa: F401 - every table on the metadata
from helpdesk.db import Base, make_engine, make_session_factory
from helpdesk.programs.services import ProgramConfig, ProgramService
from helpdesk.tickets.models import InboundDelivery, OutboxItem, OutboxStatus, Ticket
from helpdesk.tickets.queues import load_queue_config, sync_queues
from helpdesk.triage.model import default_model_path
from tests.conftest import TEST_SECRET
from tests.ops.test_reverse_proxy import NGINX, SAMPLE, loopback_config
from tests.support.database import SERVER_URL, scratch_postgres_database
from tests.support.fakes import FakeDiscourse, FakeSlack, Scripted
from tests.support.forum import CATEGORY, WEBHOOK, post_payload
from tests.support.signing import DISCOURSE_SECRET, SLACK_SECRET, signed_discourse_request, signed_slack_request
from tests.support.slack import EVENTS, SUPPORT_CHANNEL, message_event

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("HELPDESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI") == "true"
SLACK_QUESTIONS = 6
FORUM_QUESTIONS = 4
SEATS, APPLICANTS = 6, 10
PUBLIC_LIMIT = 5  # per minute and client address, shared by both apps through Redis
LEASE_SECONDS = 3


def need(condition: bool, reason: str) -> None:
    if not condition:
        if IN_CI:
            pytest.fail(f"{reason} (required in CI)")
        pytest.skip(reason)


def redis_answers(url: str) -> bool:
    match = re.match(r"redis://([^:/]+):?(\d+)?", url)
    host, port = (match.group(1), int(match.group(2) or 6379)) if match else ("127.0.0.1", 6379)
    try:
        with socket.create_connection((host, port), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def healthy(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def digest(paths: list[Path]) -> dict[str, str]:
    """Every file under ``paths`` with its size, mtime and content hash: any write shows."""
    found: dict[str, str] = {}
    for path in paths:
        for file in sorted([path] if path.is_file() else path.rglob("*")):
            if file.is_file():
                stat = file.stat()
                found[str(file)] = f"{stat.st_size}:{stat.st_mtime_ns}:{hashlib.sha256(file.read_bytes()).hexdigest()}"
    return found


@dataclass
class Desk:
    env: dict[str, str]
    database_url: str
    apps: list[int]
    front: int | None  # nginx, when installed
    token: str
    tmp: Path
    processes: list[subprocess.Popen[bytes]]

    def start(self, *args: str, name: str) -> subprocess.Popen[bytes]:
        log = (self.tmp / f"{name}.log").open("wb")
        process = subprocess.Popen([sys.executable, "-m", *args], env=self.env, cwd=self.tmp, stdout=log,
                                   stderr=subprocess.STDOUT)
        log.close()
        self.processes.append(process)
        return process

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")[-3000:]


@pytest.fixture
def fakes() -> Iterator[tuple[FakeSlack, FakeDiscourse]]:
    slack, forum = FakeSlack().start(), FakeDiscourse().start()
    yield slack, forum
    slack.stop()
    forum.stop()


@pytest.fixture
def desk(fakes: tuple[FakeSlack, FakeDiscourse], tmp_path: Path) -> Iterator[Desk]:
    need(bool(SERVER_URL), "scale-out runs on PostgreSQL only: set HELPDESK_TEST_DATABASE_URL")
    need(redis_answers(REDIS_URL), f"no Redis answers at {REDIS_URL}: the shared rate-limit store is missing "
         "(apt-get install redis-server, or set HELPDESK_TEST_REDIS_URL)")
    slack, forum = fakes
    with scratch_postgres_database("scale") as url:
        engine = make_engine(url, pool=False)
        Base.metadata.create_all(engine)
        session = make_session_factory(engine)()
        sync_queues(session, load_queue_config())
        ProgramService(session).sync([ProgramConfig(slug="dp0", name="DP0 delegates", cap=SEATS)])
        session.close()
        engine.dispose()
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("HELPDESK_") and not k.lower().endswith("_proxy")}
        env.update({
            "HELPDESK_ENV": "testing", "HELPDESK_DATABASE_URL": url, "HELPDESK_SECRET_KEY": TEST_SECRET,
            "HELPDESK_AUTH": "dev", "HELPDESK_LOG_LEVEL": "WARNING", "HELPDESK_INDEX_DIR": str(tmp_path / "index"),
            "HELPDESK_SLACK_SIGNING_SECRET": SLACK_SECRET, "HELPDESK_SLACK_BOT_TOKEN": "xoxb-test-token",
            "HELPDESK_SLACK_API_URL": slack.api_url, "HELPDESK_SLACK_CHANNEL_IDS": SUPPORT_CHANNEL,
            "HELPDESK_SLACK_PROFILE_LOOKUP": "false",
            "HELPDESK_DISCOURSE_URL": forum.url, "HELPDESK_DISCOURSE_API_KEY": "test-api-key",
            "HELPDESK_DISCOURSE_API_USERNAME": "dp0-support-bot", "HELPDESK_DISCOURSE_WEBHOOK_SECRET": DISCOURSE_SECRET,
            "HELPDESK_DISCOURSE_CATEGORY_IDS": str(CATEGORY), "HELPDESK_PUBLIC_URL": "https://help.test",
            "HELPDESK_TRIAGE_ENABLED": "true", "HELPDESK_INCIDENT_CHECKS": "false",
            "HELPDESK_RATE_LIMIT_ENABLED": "true", "HELPDESK_RATE_LIMIT_STORAGE_URL": REDIS_URL,
            "HELPDESK_RATE_LIMIT_PUBLIC": f"{PUBLIC_LIMIT} per minute",
            # nginx adds the peer it saw; the test plays the client's own proxy, so two hops are trusted.
            "HELPDESK_PROXY_COUNT": "2",
            "HELPDESK_WORKER_LEASE_SECONDS": str(LEASE_SECONDS), "HELPDESK_WORKER_POLL_SECONDS": "0.2",
            "HELPDESK_WORKER_BATCH_SIZE": "1", "HELPDESK_CHANNEL_TIMEOUT_SECONDS": "2",
            "NO_PROXY": "127.0.0.1,localhost",
        })
        token = subprocess.run([sys.executable, "-m", "helpdesk", "staff", "create", "lead", "--role", "admin",
                                "--token"], env=env, cwd=tmp_path, capture_output=True, text=True, check=True,
                               ).stdout.strip().splitlines()[-1]
        # Built once, before any process starts ("at deploy"), as the Dockerfile and `make run` do.
        subprocess.run([sys.executable, "-m", "helpdesk", "kb", "index"], env=env, cwd=ROOT, capture_output=True,
                       check=True)
        desk = Desk(env, url, [free_port(), free_port()], None, token, tmp_path, [])
        try:
            for number, port in enumerate(desk.apps, 1):
                desk.start("gunicorn", "--workers", "1", "--worker-class", "gthread", "--threads", "4",
                           "--bind", f"127.0.0.1:{port}", "--chdir", str(ROOT), "helpdesk:create_app()",
                           name=f"app{number}")
            for number, port in enumerate(desk.apps, 1):
                wait_until(lambda p=port: healthy(p), f"app {number}: {desk.log(f'app{number}')}")
            if NGINX.exists():
                desk.front = start_nginx(desk)
            elif IN_CI:
                pytest.fail("nginx is missing in CI; .ci/run installs Debian's nginx-light package.")
            yield desk
        finally:
            for process in desk.processes:
                if process.poll() is None:
                    process.terminate()
            for process in desk.processes:
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def start_nginx(desk: Desk) -> int:
    prefix = desk.tmp / "nginx"
    prefix.mkdir()
    listen = free_port()
    config = loopback_config(SAMPLE.read_text(), listen, free_port(), desk.apps[0])
    config = config.replace(f"server 127.0.0.1:{desk.apps[0]};",
                            f"server 127.0.0.1:{desk.apps[0]};\n    server 127.0.0.1:{desk.apps[1]};")
    (prefix / "helpdesk.conf").write_text(config)
    user = "user root;\n" if os.geteuid() == 0 else ""
    (prefix / "nginx.conf").write_text(
        f"{user}worker_processes 1;\npid {prefix}/nginx.pid;\nerror_log {prefix}/error.log warn;\n"
        "events { worker_connections 256; }\nhttp {\n  access_log off;\n"
        + "".join(f"  {kind}_temp_path {prefix}/{kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi",
                                                                      "scgi"))
        + f"  include {prefix}/helpdesk.conf;\n}}\n")
    desk.processes.append(subprocess.Popen([str(NGINX), "-p", str(prefix), "-c", str(prefix / "nginx.conf"),
                                            "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    wait_until(lambda: healthy(listen), "nginx")
    return listen


def at_once(*calls: Callable[[], requests.Response]) -> list[requests.Response]:
    """Run the calls in threads released together, as two webhooks arriving at two processes at once."""
    barrier = threading.Barrier(len(calls))
    answers: list[requests.Response | None] = [None] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        answers[index] = calls[index]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return [a for a in answers if a is not None]


def post(port: int, path: str, raw: bytes, headers: dict[str, str]) -> Callable[[], requests.Response]:
    return lambda: requests.post(f"http://127.0.0.1:{port}{path}", data=raw, headers=headers, timeout=20)


def sign_up(port: int, index: int, via_proxy: bool) -> int:
    """A delegate signs in (dev form) and applies, from an address of their own; the final status code."""
    address = f"2001:db8::{index + 1:x}"
    browser = requests.Session()
    browser.headers["X-Forwarded-For"] = address if via_proxy else f"{address}, 127.0.0.1"
    base = f"http://127.0.0.1:{port}"
    token = csrf(browser.get(f"{base}/auth/login", timeout=20).text)
    assert browser.post(f"{base}/auth/login", data={"login": f"delegate{index}", "csrf_token": token},
                        allow_redirects=False, timeout=20).status_code == 302
    token = csrf(browser.get(f"{base}/signup", timeout=20).text)
    return browser.post(f"{base}/signup", data={
        "name": f"Delegate {index}", "email": f"delegate{index}@example.org", "institution": "Rubin",
        "data_rights": "y", "program": "dp0", "csrf_token": token}, allow_redirects=False, timeout=20).status_code


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def test_two_apps_two_workers_one_database(desk: Desk, fakes: tuple[FakeSlack, FakeDiscourse]) -> None:
    slack, forum = fakes
    app1, app2 = desk.apps
    front = desk.front or app1
    read_only = [Path(desk.env["HELPDESK_INDEX_DIR"]), default_model_path()]
    before = digest(read_only)
    engine = make_engine(desk.database_url, pool=False)
    session = make_session_factory(engine)()
    try:
        # 1. Every delivery to both apps at the same moment, and Slack's retry of it through the front.
        for n in range(SLACK_QUESTIONS):
            event = message_event(f"My TAP query {n} on dp02_dc2_catalogs times out after 30 s",
                                  event_id=f"EvScale{n}", ts=f"17000{n:05d}.000100", user=f"U0SCALE{n}")
            headers, raw = signed_slack_request(event)
            retry_headers, _ = signed_slack_request(event, retry_num=1)
            answers = at_once(post(app1, EVENTS, raw, headers), post(app2, EVENTS, raw, headers),
                              post(front, EVENTS, raw, retry_headers))
            assert [a.status_code for a in answers] == [200, 200, 200]
        for n in range(FORUM_QUESTIONS):
            body = post_payload(id=9000 + n, topic_id=700 + n, post_number=1, topic_title=f"Butler question {n}",
                                raw=f"butler.get('calexp') fails for visit {n}: collection missing")
            headers, raw = signed_discourse_request(body, event_id=40 + n)
            answers = at_once(post(app1, WEBHOOK, raw, headers), post(app2, WEBHOOK, raw, headers))
            assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
            assert sorted(a.json()["duplicate"] for a in answers) == [False, True]
        tickets = session.scalars(select(Ticket).order_by(Ticket.id)).all()
        assert len(tickets) == SLACK_QUESTIONS + FORUM_QUESTIONS
        assert len({(t.source, t.thread_key) for t in tickets}) == len(tickets)
        keys = Counter(session.scalars(select(InboundDelivery.external_id)))
        assert set(keys.values()) == {1} and len(keys) == 2 * SLACK_QUESTIONS + FORUM_QUESTIONS

        # 2. Staff answer every ticket, half through each app.
        for index, ticket in enumerate(tickets):
            port = desk.apps[index % 2]
            answer = requests.post(f"http://127.0.0.1:{port}/api/v1/tickets/{ticket.id}/replies",
                                   json={"body": f"Answer to ticket {ticket.id}", "visibility": "public"},
                                   headers={"Authorization": f"Bearer {desk.token}"}, timeout=20)
            assert answer.status_code == 201, answer.text

        # 3. Workers: the first is killed while Slack holds its request (Slack has stored the message);
        # a second runs meanwhile and a third starts after the kill, so two deliver side by side.
        slack.script("chat.postMessage", Scripted(stall=60, then_normal=True))
        doomed = desk.start("helpdesk", "worker", name="worker1")
        wait_until(lambda: bool(slack.messages), f"the first worker to post: {desk.log('worker1')}")
        desk.start("helpdesk", "worker", name="worker2")
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait(10)
        desk.start("helpdesk", "worker", name="worker3")
        # Per ticket: its acknowledgement, its answer, and its sorting (triage runs in the worker).
        expected = 3 * len(tickets)

        def all_delivered() -> bool:
            session.expire_all()
            done = session.scalar(select(func.count()).select_from(OutboxItem)
                                  .where(OutboxItem.status == OutboxStatus.DELIVERED))
            return done == expected
        wait_until(all_delivered, f"every delivery: {desk.log('worker2')} {desk.log('worker3')}", timeout=45)

        # Exactly once at Slack: one message per outbox item, each carrying its own key.
        slack_keys = Counter(m["metadata"]["event_payload"]["key"] for m in slack.messages if m.get("metadata"))
        assert len(slack.messages) == 2 * SLACK_QUESTIONS and set(slack_keys.values()) == {1}
        # Exactly once on the forum: per topic, one acknowledgement and one answer by the desk's account.
        ours = [p for p in forum.posts if p.get("username") == "dp0-support-bot"]
        markers = Counter(m for p in ours for m in re.findall(r"<!-- helpdesk:([^ ]+) -->", p["raw"]))
        assert len(ours) == 2 * FORUM_QUESTIONS and set(markers.values()) == {1} and len(markers) == len(ours)
        assert Counter(p["topic_id"] for p in ours) == {700 + n: 2 for n in range(FORUM_QUESTIONS)}
        stalled = session.scalars(select(OutboxItem).where(OutboxItem.attempts > 1)).all()
        assert len(stalled) == 1  # the killed worker's item, taken over after its lease
        session.expire_all()
        assert all(t.triage is not None for t in session.scalars(select(Ticket)))  # sorted, once each

        # 4. Concurrent sign-ups through the one address: exactly the cap holds seats.
        codes = at_once(*(lambda i=i: _Status(sign_up(front, i, desk.front is not None))
                          for i in range(APPLICANTS)))
        assert [c.status_code for c in codes] == [302] * APPLICANTS
        counts = requests.get(f"http://127.0.0.1:{app2}/api/v1/programs/dp0",
                              headers={"Authorization": f"Bearer {desk.token}"}, timeout=20).json()
        assert (counts["active"] + counts["pending"], counts["waitlisted"]) == (SEATS, APPLICANTS - SEATS), counts

        # 5. One client, alternating between the apps, meets one shared limit.
        address = f"2001:db8:{uuid.uuid4().hex[:4]}::1"  # fresh each run: no counts left from an earlier one
        browser = requests.Session()
        browser.headers["X-Forwarded-For"] = f"{address}, 127.0.0.1"
        statuses = []
        for attempt in range(PUBLIC_LIMIT + 3):
            base = f"http://127.0.0.1:{desk.apps[attempt % 2]}"
            token = csrf(browser.get(f"{base}/auth/login", timeout=20).text)
            statuses.append(browser.post(f"{base}/auth/login", data={"login": "roamer", "csrf_token": token},
                                         allow_redirects=False, timeout=20).status_code)
        assert statuses == [302] * PUBLIC_LIMIT + [429] * 3, statuses

        # 6. Nobody wrote the index or the model.
        assert digest(read_only) == before
    finally:
        session.close()
        engine.dispose()


@dataclass
class _Status:
    status_code: int


def test_the_settings_document_redis_for_shared_counters() -> None:
    """The operator guide's scale-out page names the setting and the store this test uses."""
    page = (ROOT / "docs" / "operator" / "scaling.md").read_text()
    assert "HELPDESK_RATE_LIMIT_STORAGE_URL" in page and "redis://" in page
