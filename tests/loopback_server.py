"""The one way the tests' portal stand-ins (Socrata SODA, Socrata DSMAPI, ArcGIS) run: a threaded HTTP server on
127.0.0.1 at a free port, HTTPS when the stand-in has a certificate, stopped within 50 ms."""
from __future__ import annotations

import ssl
import threading
from http.server import ThreadingHTTPServer


class LoopbackServer:
    """Mixin for a stand-in: `start()` serves `handler` (a BaseHTTPRequestHandler subclass whose `emulator` attribute
    is set to the stand-in), over TLS when the stand-in has `certfile` and `keyfile`; usable as a context manager."""
    handler: type

    _server: ThreadingHTTPServer | None = None

    def start(self):
        handler = type("Handler", (self.handler,), {"emulator": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        certfile, keyfile = getattr(self, "certfile", None), getattr(self, "keyfile", None)
        if certfile:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(certfile, keyfile)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{'https' if getattr(self, 'certfile', None) else 'http'}://{host}:{port}"
