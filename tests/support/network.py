"""Hosts that cannot be reached, one of each kind, all on this machine: a port nothing listens on (refused), a name
that cannot resolve (DNS), a server that accepts and never answers (timeout), https:// to a plain-HTTP server (TLS).
"""

from __future__ import annotations

import contextlib
import http.server
import socket
import threading
from collections.abc import Iterator

DNS_NAME = "nonexistent.invalid"  # RFC 6761: never resolves


class _Quiet(http.server.BaseHTTPRequestHandler):
    def log_message(self, format, *args):  # a TLS handshake read as HTTP is a 400: not news here
        pass


@contextlib.contextmanager
def unreachable_hosts() -> Iterator[dict[str, tuple[str, str]]]:
    """``{kind: (base URL, host as the message names it)}`` for the four kinds, each live for the block."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # the kernel accepts connections; nobody ever reads or answers them
    silent_port = silent.getsockname()[1]
    plain = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
    plain.daemon_threads = True
    thread = threading.Thread(target=plain.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    plain_port = plain.server_address[1]
    try:
        yield {
            "refused": (f"http://127.0.0.1:{closed_port}", f"127.0.0.1:{closed_port}"),
            "DNS": (f"http://{DNS_NAME}", DNS_NAME),
            "timeout": (f"http://127.0.0.1:{silent_port}", f"127.0.0.1:{silent_port}"),
            "TLS": (f"https://127.0.0.1:{plain_port}", f"127.0.0.1:{plain_port}"),
        }
    finally:
        plain.shutdown()
        plain.server_close()
        silent.close()


KINDS = ["refused", "DNS", "timeout", "TLS"]
