"""Start daphne with the settings the WebSocket protocol relies on.

`python -m cloudsaves.serve [--host H] [--port P] [--tls-cert C --tls-key K]` is what
`make run` and the test suite's live servers use, so every server enforces the same frame
limit and keepalive:
- the protocol's 64 KiB frame limit is answered by the consumer with close 1009; anything
  over 1 MiB is not even buffered: the WebSocket layer drops the connection at once;
- a peer that stops reading stops answering pings and is dropped after the ping timeout,
  which bounds what the server buffers for it.
"""

from __future__ import annotations

import argparse
import gc
import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

TRANSPORT_MAX_BYTES = 1024 * 1024


def daphne_argv(
    host: str, port: int, *, tls_cert: str | None = None, tls_key: str | None = None
) -> list[str]:
    if tls_cert:
        # Twisted's endpoint syntax: ':' and '\\' in paths are escaped with a backslash.
        def escape(path: str) -> str:
            return path.replace("\\", "\\\\").replace(":", "\\:")

        listen = [
            "-e",
            f"ssl:port={port}:interface={escape(host)}"
            f":privateKey={escape(tls_key or tls_cert)}:certKey={escape(tls_cert)}",
        ]
    else:
        listen = ["-b", host, "-p", str(port)]
    return [
        *listen,
        "--websocket-max-message-size",
        str(TRANSPORT_MAX_BYTES),
        "--websocket-max-frame-size",
        str(TRANSPORT_MAX_BYTES),
        "--ping-interval",
        os.environ.get("CLOUDSAVES_WS_PING_INTERVAL_S", "20"),
        "--ping-timeout",
        os.environ.get("CLOUDSAVES_WS_PING_TIMEOUT_S", "30"),
        "--application-close-timeout",
        "5",
        "cloudsaves.asgi:application",
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ServerProcess:
    """A server started by `spawn`, for the test suite's live tests and the benchmarks."""

    port: int
    process: subprocess.Popen
    log_path: Path
    tls: bool = False

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"{'wss' if self.tls else 'ws'}://127.0.0.1:{self.port}/ws/v1/"

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def spawn(
    *,
    env: dict[str, str],
    log_dir: Path,
    port: int | None = None,
    ready: tuple[int, ...] = (200,),
    timeout: float = 30,
    tls: tuple[str, str, ssl.SSLContext] | None = None,
) -> ServerProcess:
    """Start this module as a child process on 127.0.0.1 and wait until /healthz answers
    with one of the `ready` statuses. `tls` is (certificate file, key file, a client
    context that trusts it): the server then listens with TLS only."""
    port = port or free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"daphne-{port}.log"
    argv = [sys.executable, "-m", "cloudsaves.serve", "--host", "127.0.0.1", "--port", str(port)]
    if tls:
        argv += ["--tls-cert", tls[0], "--tls-key", tls[1]]
    with log_path.open("w") as log:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            argv,
            cwd=Path(__file__).resolve().parent.parent,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = ServerProcess(port=port, process=process, log_path=log_path, tls=tls is not None)
    context = tls[2] if tls else None
    health = f"{server.url}/healthz"  # http(s) on 127.0.0.1, never another scheme
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"daphne exited early:\n{server.log()}")
        try:
            with urllib.request.urlopen(health, timeout=1, context=context) as response:  # noqa: S310  # nosec B310
                status = response.status
        except urllib.error.HTTPError as error:
            status = error.code
        except OSError:
            status = None
        if status in ready:
            return server
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"daphne was not ready within {timeout:g} s:\n{server.log()}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve Cloud-Saves with daphne.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--tls-cert", help="serve HTTPS and WSS with this PEM certificate")
    parser.add_argument("--tls-key", help="its PEM private key (default: in --tls-cert)")
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cloudsaves.settings")
    # Load the application now and move everything it allocated out of the collector's
    # reach: a full collection then scans only what requests create. Measured with 100
    # sockets: full collections fell from 44-90 ms to 10-12 ms, and with them the tail of
    # push-to-delivery latency (bench/live_bench.py, docs/benchmarks.md).
    import django
    from daphne.cli import CommandLineInterface

    django.setup()
    import cloudsaves.asgi  # noqa: F401

    gc.collect()
    gc.freeze()
    # daphne's own --proxy-headers is not offered: it takes the leftmost X-Forwarded-For
    # address, which the client writes. CLOUDSAVES_TRUSTED_PROXY_COUNT is read instead.
    CommandLineInterface().run(
        daphne_argv(args.host, args.port, tls_cert=args.tls_cert, tls_key=args.tls_key)
    )


if __name__ == "__main__":
    main(sys.argv[1:])
