#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A minimal Neutron stand-in for the rbdmove OpenStack lab.

rbdmove never talks to Neutron, and the lab's servers are created with
"networks": "none", but Nova still asks Neutron about ports (and a few other
collections) when it deletes a server.  This answers every collection GET with
an empty list, version discovery with a v2.0 document, a single resource GET
with Neutron's 404, and logs every request (one line each) so that new calls
show up in the log.

usage: neutron-standin.py [--host 127.0.0.1] [--port 19696]
"""
import argparse
import json
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "rbdmove-neutron-standin/1"

    def log_message(self, fmt, *args):
        sys.stdout.write("%s %s\n" % (self.log_date_time_string(), fmt % args))
        sys.stdout.flush()

    def _reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Openstack-Request-Id", "req-rbdmove-standin")
        self.end_headers()
        self.wfile.write(data)

    def _drain(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length > 0:
            self.rfile.read(length)

    def _base(self):
        return "http://%s:%d" % self.server.server_address[:2]

    def _not_found(self, what):
        self._reply(404, {"NeutronError": {
            "type": "NotFound", "detail": "",
            "message": "%s could not be found (rbdmove lab stand-in)" % what}})

    def do_GET(self):
        self._drain()
        path = urlsplit(self.path).path.rstrip("/")
        if path == "":
            self._reply(200, {"versions": [{
                "id": "v2.0", "status": "CURRENT",
                "links": [{"rel": "self", "href": self._base() + "/v2.0/"}]}]})
            return
        if path == "/v2.0":
            self._reply(200, {"resources": []})
            return
        m = re.fullmatch(r"/v2\.0/([a-z0-9_-]+)(?:\.json)?", path)
        if m:
            # Collection: answer an empty list under Neutron's key.
            self._reply(200, {m.group(1).replace("-", "_"): []})
            return
        self._not_found(path)

    def do_POST(self):
        self._drain()
        self._not_found(urlsplit(self.path).path)

    do_PUT = do_POST
    do_DELETE = do_POST


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=19696)
    args = ap.parse_args()
    httpd = ThreadingHTTPServer((args.host, args.port), Handler)
    httpd.daemon_threads = True
    sys.stdout.write("neutron stand-in listening on %s:%d\n" % (args.host, args.port))
    sys.stdout.flush()
    httpd.serve_forever()


if __name__ == "__main__":
    main()
