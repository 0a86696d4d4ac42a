"""Start daphne with the settings the WebSocket protocol relies on.

`python -m cloudsaves.serve [--host H] [--port P]` is what `make run` and the test suite's
live servers use, so every server enforces the same frame limit and keepalive:
- the protocol's 64 KiB frame limit is answered by the consumer with close 1009; anything
  over 1 MiB is not even buffered: the WebSocket layer drops the connection at once;
- a peer that stops reading stops answering pings and is dropped after the ping timeout,
  which bounds what the server buffers for it.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys

TRANSPORT_MAX_BYTES = 1024 * 1024


def daphne_argv(host: str, port: int) -> list[str]:
    return [
        "-b",
        host,
        "-p",
        str(port),
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve Cloud-Saves with daphne.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--proxy-headers", action="store_true", help="behind a TLS proxy")
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cloudsaves.settings")
    from daphne.cli import CommandLineInterface

    extra = ["--proxy-headers"] if args.proxy_headers else []
    # Load the application now and move everything it allocated out of the collector's
    # reach: a full collection then scans only what requests create. Measured with 100
    # sockets: full collections fell from 44-90 ms to 10-12 ms, and with them the tail of
    # push-to-delivery latency (bench/live_bench.py, docs/benchmarks.md).
    import django

    django.setup()
    import cloudsaves.asgi  # noqa: F401

    gc.collect()
    gc.freeze()
    CommandLineInterface().run(extra + daphne_argv(args.host, args.port))


if __name__ == "__main__":
    main(sys.argv[1:])
