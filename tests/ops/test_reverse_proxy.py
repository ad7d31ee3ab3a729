"""The shipped nginx sample (deploy/nginx-helpdesk.conf) in front of gunicorn with one sync worker: clients that
trickle their request body byte by byte do not stall everyone else, because nginx buffers whole requests.

The sample is run as shipped except for what a test machine needs: loopback ports instead of 443/80, no TLS.
Installs nothing: it runs when /usr/sbin/nginx exists (.ci/run installs Debian's nginx-light), and in CI a
missing nginx is a failure, not a skip.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import TEST_SECRET
from tests.support.database import create_sqlite_schema

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "deploy" / "nginx-helpdesk.conf"
NGINX = Path("/usr/sbin/nginx")
SLOW_CLIENTS = 3
#: Bounds on the slow clients: each trickles at most this long, and the whole test stops by itself.
TRICKLE_SECONDS = 20.0
BODY_BYTES = 400


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def loopback_config(sample: str, listen: int, redirect_listen: int, upstream: int) -> str:
    """The sample with loopback ports and without TLS; everything else as shipped."""
    text = re.sub(r"^\s*ssl_\w+.*$\n", "", sample, flags=re.M)
    text, n_tls = re.subn(r"^(\s*)listen 443 ssl( http2)?;", rf"\1listen 127.0.0.1:{listen};", text, flags=re.M)
    text = re.sub(r"^\s*http2 on;$\n", "", text, flags=re.M)
    text, n_plain = re.subn(r"^(\s*)listen 80;", rf"\1listen 127.0.0.1:{redirect_listen};", text, flags=re.M)
    text, n_up = re.subn(r"^(\s*)server 127\.0\.0\.1:8000;", rf"\1server 127.0.0.1:{upstream};", text, flags=re.M)
    assert (n_tls, n_plain, n_up) == (1, 1, 1), "the sample's listen/upstream lines changed; update this test"
    return text


@pytest.fixture
def nginx_binary() -> Path:
    if not NGINX.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("nginx is missing in CI; .ci/run installs Debian's nginx-light package.")
        pytest.skip("no /usr/sbin/nginx (apt-get install nginx-light); reverse-proxy test skipped")
    return NGINX


@pytest.fixture
def gunicorn(tmp_path: Path) -> Iterator[int]:
    """The helpdesk under gunicorn with a single sync worker: the setup that slow clients stall."""
    url = f"sqlite:///{tmp_path / 'helpdesk.sqlite3'}"
    create_sqlite_schema(url)
    port = free_port()
    env = {**os.environ, "HELPDESK_ENV": "testing", "HELPDESK_DATABASE_URL": url, "HELPDESK_SECRET_KEY": TEST_SECRET,
           "HELPDESK_INDEX_DIR": str(tmp_path / "index"), "HELPDESK_LOG_LEVEL": "WARNING",
           "HELPDESK_PROXY_COUNT": "1"}
    log = (tmp_path / "gunicorn.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--workers", "1", "--worker-class", "sync", "--timeout", "60",
         "--bind", f"127.0.0.1:{port}", "helpdesk:create_app()"],
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    log.close()
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz")
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def nginx(nginx_binary: Path, gunicorn: int, tmp_path: Path) -> Iterator[int]:
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    listen, redirect_listen = free_port(), free_port()
    (prefix / "helpdesk.conf").write_text(loopback_config(SAMPLE.read_text(), listen, redirect_listen, gunicorn))
    user = "user root;\n" if os.geteuid() == 0 else ""  # as root, workers would switch to nobody
    (prefix / "nginx.conf").write_text(
        f"{user}worker_processes 1;\npid {prefix}/nginx.pid;\nerror_log {prefix}/error.log warn;\n"
        "events { worker_connections 256; }\n"
        "http {\n"
        f"  access_log off;\n  client_body_temp_path {prefix}/body;\n  proxy_temp_path {prefix}/proxy;\n"
        f"  fastcgi_temp_path {prefix}/fastcgi;\n  uwsgi_temp_path {prefix}/uwsgi;\n  scgi_temp_path {prefix}/scgi;\n"
        f"  include {prefix}/helpdesk.conf;\n"
        "}\n"
    )
    check = subprocess.run([str(nginx_binary), "-t", "-p", str(prefix), "-c", str(prefix / "nginx.conf")],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    process = subprocess.Popen([str(nginx_binary), "-p", str(prefix), "-c", str(prefix / "nginx.conf"),
                                "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(f"http://127.0.0.1:{listen}/healthz")
        yield listen
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class SlowClient(threading.Thread):
    """Sends a POST's headers, then its body one byte at a time, until stopped or the body is done."""

    def __init__(self, port: int, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.port, self.stop = port, stop
        self.sent = 0
        self.started = threading.Event()

    def run(self) -> None:
        deadline = time.monotonic() + TRICKLE_SECONDS
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            # A form post: the CSRF check reads the whole body before anything else, so the worker waits for it.
            sock.sendall(
                b"POST /auth/login HTTP/1.1\r\nHost: helpdesk.example.org\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\n"
                + f"Content-Length: {BODY_BYTES}\r\n\r\n".encode()
            )
            self.started.set()
            while self.sent < BODY_BYTES and not self.stop.is_set() and time.monotonic() < deadline:
                sock.sendall(b"a")
                self.sent += 1
                self.stop.wait(0.25)

    @property
    def unfinished(self) -> bool:
        return self.is_alive() and self.sent < BODY_BYTES


def test_slow_clients_do_not_stall_others_behind_nginx(nginx: int) -> None:
    stop = threading.Event()
    clients = [SlowClient(nginx, stop) for _ in range(SLOW_CLIENTS)]
    try:
        for client in clients:
            client.start()
        for client in clients:
            assert client.started.wait(5)
        time.sleep(1.0)  # they are well into trickling: without the proxy the only worker would be taken
        with urllib.request.urlopen(f"http://127.0.0.1:{nginx}/healthz", timeout=TRICKLE_SECONDS) as response:
            answered = response.status, response.read()
        # The ordinary request was answered while every slow client was still sending its body.
        still_trickling = [client.unfinished for client in clients]
    finally:
        stop.set()
        for client in clients:
            client.join(timeout=5)
    assert answered == (200, b'{"database":"ok","status":"ok"}\n')
    assert still_trickling == [True] * SLOW_CLIENTS


def test_the_app_sees_the_real_client_through_the_proxy(nginx: int) -> None:
    """With HELPDESK_PROXY_COUNT=1 the app takes the address nginx saw (127.0.0.1 here, allowed to read /metrics),
    not the one a client claims in its own X-Forwarded-For."""
    with urllib.request.urlopen(f"http://127.0.0.1:{nginx}/metrics", timeout=10) as response:
        assert response.status == 200
    request = urllib.request.Request(f"http://127.0.0.1:{nginx}/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    # nginx appends the real peer (127.0.0.1) to what the client claimed; the app trusts only the last hop.
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
