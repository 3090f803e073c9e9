#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""fault-proxy.py RULES LOG LISTEN_PORT=UPSTREAM_URL...: an HTTP proxy that
the tests put in front of Nova and Cinder to cause the faults the real
services cannot be made to show on demand.

Each LISTEN_PORT=UPSTREAM_URL pair listens on 127.0.0.1:LISTEN_PORT and
forwards to UPSTREAM_URL (http://host:port). RULES is a JSON file the test
rewrites at will (re-read when it changes): a list of

  {"method": "POST", "path": "REGEX", "body": "REGEX", "nth": 1,
   "times": 1, "action": ACTION, "port": LISTEN_PORT, "after": "REGEX"}

matched in order against each request (method and port exact, path and
body as regular expressions searched in the request line's path and the
request body; all optional; "after": the rule is live only once a request
whose "METHOD PATH" matches REGEX has passed the proxy). A rule counts the
requests it matches; the nth to the (nth+times-1)th get ACTION (times 0:
every one from the nth):

  "500", "503", ...   answer with that status (JSON body), not forwarded
  "delay:SECONDS"     wait, then forward
  "reset"             close the connection (RST), not forwarded
  "lost"              forward, let the service act, then close the
                      connection (RST) instead of answering: the action
                      happened but its answer was lost
  "pass"              forward (a rule that only counts)

LOG gets one JSON line per request: port, method, path, the rule index and
action applied (or null), and the status returned. The proxy stops on
SIGTERM. Standard library only.
"""
import http.client
import http.server
import json
import os
import re
import signal
import socket
import socketserver
import struct
import sys
import threading
import time
import urllib.parse

HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
       "te", "trailers", "transfer-encoding", "upgrade", "host",
       "content-length"}


class Rules:
    def __init__(self, path):
        self.path = path
        self.mtime = None
        self.rules = []
        self.counts = []
        self.seen = []  # "METHOD PATH" of every request so far
        self.lock = threading.Lock()

    def _load(self):
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self.rules, self.counts, self.mtime = [], [], None
            return
        if st.st_mtime_ns == self.mtime:
            return
        with open(self.path) as f:
            text = f.read()
        try:
            rules = json.loads(text) if text.strip() else []
        except ValueError:
            return  # being rewritten: keep the old rules for now
        self.rules = rules
        self.counts = [0] * len(rules)
        self.mtime = st.st_mtime_ns

    def match(self, port, method, path, body):
        with self.lock:
            self._load()
            result = (None, None)
            for i, r in enumerate(self.rules):
                if "after" in r and not any(re.search(r["after"], x)
                                            for x in self.seen):
                    continue
                if "port" in r and int(r["port"]) != port:
                    continue
                if "method" in r and r["method"] != method:
                    continue
                if "path" in r and not re.search(r["path"], path):
                    continue
                if "body" in r and not re.search(r["body"],
                                                 body.decode("utf-8", "replace")):
                    continue
                self.counts[i] += 1
                n, times = int(r.get("nth", 1)), int(r.get("times", 1))
                c = self.counts[i]
                if c >= n and (times == 0 or c < n + times):
                    result = (i, r.get("action", "pass"))
                break
            self.seen.append("%s %s" % (method, path))
            return result


def make_handler(rules, log, port, upstream):
    up = urllib.parse.urlsplit(upstream)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            pass

        def _note(self, rule, action, status):
            rec = {"t": time.time(), "port": port, "method": self.command,
                   "path": self.path, "rule": rule, "action": action,
                   "status": status}
            with log["lock"]:
                with open(log["path"], "a") as f:
                    f.write(json.dumps(rec) + "\n")

        def _reset(self):
            # SO_LINGER 0: close with a RST, as a connection cut would.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()

        def _forward(self, body):
            conn = http.client.HTTPConnection(up.hostname, up.port, timeout=300)
            headers = {k: v for k, v in self.headers.items()
                       if k.lower() not in HOP}
            headers["Host"] = up.netloc
            conn.request(self.command, self.path, body=body or None,
                         headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            conn.close()
            return resp, data

        def _answer(self, status, headers, data):
            self.send_response(status)
            for k, v in headers:
                if k.lower() not in HOP:
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else b""
            rule, action = rules.match(port, self.command, self.path, body)
            if action and action.startswith("delay:"):
                time.sleep(float(action.split(":", 1)[1]))
            if action == "reset":
                self._note(rule, action, None)
                self._reset()
                return
            if action and action.isdigit():
                status = int(action)
                data = json.dumps({"fault": {
                    "code": status,
                    "message": "injected by fault-proxy"}}).encode()
                self._note(rule, action, status)
                self._answer(status, [("Content-Type", "application/json")],
                             data)
                return
            try:
                resp, data = self._forward(body)
            except OSError as e:
                self._note(rule, "upstream-error: %s" % e, 502)
                self._answer(502, [("Content-Type", "text/plain")],
                             b"fault-proxy: upstream unreachable")
                return
            if action == "lost":
                self._note(rule, action, resp.status)
                self._reset()
                return
            self._note(rule, action, resp.status)
            self._answer(resp.status, resp.getheaders(), data)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle

    return Handler


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    if len(sys.argv) < 4:
        sys.exit("usage: fault-proxy.py RULES LOG PORT=UPSTREAM...")
    rules = Rules(sys.argv[1])
    log = {"path": sys.argv[2], "lock": threading.Lock()}
    servers = []
    for pair in sys.argv[3:]:
        p, upstream = pair.split("=", 1)
        srv = Server(("127.0.0.1", int(p)),
                     make_handler(rules, log, int(p), upstream))
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print("fault-proxy: listening on %s" %
          " ".join(a.split("=")[0] for a in sys.argv[3:]), flush=True)
    stop.wait()
    for srv in servers:
        srv.shutdown()


if __name__ == "__main__":
    main()
