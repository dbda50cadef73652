"""A file server on 127.0.0.1 for the fetch tests (nothing here reaches the internet)."""

from __future__ import annotations

import io
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FileServer:
    """Serves `files[path] = bytes`; paths under /truncated/ promise more bytes than they send."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.hits: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits.append(self.path)
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404, "Not Found")
                    return
                self.send_response(200)
                truncated = self.path.startswith("/truncated/")
                self.send_header("Content-Length", str(len(body) * 2 if truncated else len(body)))
                self.end_headers()
                self.wfile.write(body)
                if truncated:
                    self.close_connection = True

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def tar_gz(files: dict[str, bytes], folder: str) -> bytes:
    """A .tar.gz holding `folder/name` for each of `files`, as a mirror or registry serves it."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, body in files.items():
            entry = tarfile.TarInfo(f"{folder}/{name}")
            entry.size = len(body)
            tar.addfile(entry, io.BytesIO(body))
    return buf.getvalue()
