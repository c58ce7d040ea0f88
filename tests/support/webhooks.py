"""A webhook on 127.0.0.1 for the tests: it keeps what is POSTed to it."""

from __future__ import annotations


class WebhookListener:
    """A webhook on 127.0.0.1 that keeps the JSON bodies posted to it."""

    def __init__(self) -> None:
        import http.server
        import json
        import threading

        received = self.received = []  # type: ignore[var-annotated]

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
