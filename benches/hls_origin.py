#!/usr/bin/env python3
"""Loopback HLS origin for benches/record_bench.sh.

Usage: hls_origin.py DIR PORTFILE [--host 127.0.0.1] [--delay-ms N]

Serves the files of DIR (playlists and segments, preloaded into memory so the disk is not
in the measurement) over HTTP/1.1 with keep-alive, one thread per connection
(ThreadingHTTPServer), on a random free port of 127.0.0.1; the port is written to
PORTFILE once the socket listens. Supports GET/HEAD and single `Range: bytes=a-b`.

Counters (requests, bytes of .ts bodies, distinct .ts paths) are returned as JSON by
`GET /__stats`; `GET /__stats?reset=1` returns them and resets them, so the bench can
check that each client fetched every segment exactly once. `--delay-ms N` waits N ms
before answering each playlist/segment request (a CDN's round trip; default 0).
"""
import json
import os
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TYPES = {".m3u8": "application/vnd.apple.mpegurl", ".ts": "video/mp2t", ".mp4": "video/mp4",
         ".m4s": "video/iso.segment", ".aac": "audio/aac", ".key": "application/octet-stream"}


class State:
    def __init__(self, root):
        self.files = {}
        for dirpath, _, names in os.walk(root):
            for n in names:
                p = os.path.join(dirpath, n)
                rel = "/" + os.path.relpath(p, root).replace(os.sep, "/")
                with open(p, "rb") as f:
                    self.files[rel] = f.read()
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.requests = 0
        self.ts_requests = 0
        self.ts_bytes = 0
        self.ts_paths = set()
        self.connections = 0

    def stats(self):
        return {"requests": self.requests, "ts_requests": self.ts_requests,
                "ts_bytes": self.ts_bytes, "ts_distinct": len(self.ts_paths),
                "connections": self.connections}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    disable_nagle_algorithm = True  # TCP_NODELAY: no 40 ms delayed-ACK stalls
    server_version = "stitch-bench-origin"

    def setup(self):
        super().setup()
        st = self.server.state
        with st.lock:
            st.connections += 1

    def log_message(self, *args):  # quiet
        pass

    def _send(self, code, body, ctype, extra=(), head=False):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        for k, v in extra:
            self.send_header(k, v)
        # headers and body in one send (end_headers would flush the headers alone)
        self._headers_buffer.append(b"\r\n")
        hdr = b"".join(self._headers_buffer)
        self._headers_buffer = []
        self.wfile.write(hdr if head else hdr + body)

    def _serve(self, head):
        st = self.server.state
        path, _, query = self.path.partition("?")
        if path == "/__stats":
            with st.lock:
                body = json.dumps(st.stats()).encode()
                if "reset=1" in query:
                    st.reset()
            return self._send(200, body, "application/json", head=head)
        data = st.files.get(path)
        if data is None:
            return self._send(404, b"not found\n", "text/plain", head=head)
        if self.server.delay:
            time.sleep(self.server.delay)
        ext = os.path.splitext(path)[1]
        ctype = TYPES.get(ext, "application/octet-stream")
        code, extra, body = 200, (), data
        rng = self.headers.get("Range")
        if rng:
            m = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", rng)
            if m and (m.group(1) or m.group(2)):
                if m.group(1):
                    a = int(m.group(1))
                    b = int(m.group(2)) if m.group(2) else len(data) - 1
                else:  # suffix range
                    a, b = max(0, len(data) - int(m.group(2))), len(data) - 1
                b = min(b, len(data) - 1)
                if a > b:
                    return self._send(416, b"", ctype, [("Content-Range", f"bytes */{len(data)}")], head)
                code, body = 206, data[a:b + 1]
                extra = [("Content-Range", f"bytes {a}-{b}/{len(data)}")]
        if not head:
            with st.lock:
                st.requests += 1
                if ext == ".ts":
                    st.ts_requests += 1
                    st.ts_bytes += len(body)
                    st.ts_paths.add(path)
        self._send(code, body, ctype, extra, head)

    def do_GET(self):
        self._serve(False)

    def do_HEAD(self):
        self._serve(True)


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    root, portfile = sys.argv[1], sys.argv[2]
    host = sys.argv[sys.argv.index("--host") + 1] if "--host" in sys.argv else "127.0.0.1"
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 128
    srv = ThreadingHTTPServer((host, 0), Handler)
    srv.state = State(root)
    srv.delay = float(sys.argv[sys.argv.index("--delay-ms") + 1]) / 1000 if "--delay-ms" in sys.argv else 0.0
    tmp = portfile + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.replace(tmp, portfile)
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
