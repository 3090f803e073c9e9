#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""os_endpoints.py SERVICE_TYPE REGION INTERFACE [URL]: print the URL of
one endpoint of the OpenStack lab's Keystone catalog, and with URL set it
first (printing the old one). t52 points the "internal" endpoints of Nova
and Cinder at its fault-injecting proxy and runs rbdmove with interface
internal, so that only rbdmove's requests pass the proxy (the services
talk to each other through the public ones). Admin credentials from the
lab's environment (RBM_AUTH_URL or OS_AUTH_URL, OS_PASSWORD)."""
import json, os, sys, urllib.error, urllib.request

E = os.environ
stype, region, iface = sys.argv[1:4]
new = sys.argv[4] if len(sys.argv) > 4 else None
base = E.get("RBM_AUTH_URL") or E["OS_AUTH_URL"]


def call(method, url, token=None, body=None):
    h = {"Content-Type": "application/json", "Accept": "application/json"}
    if token:
        h["X-Auth-Token"] = token
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers=h, method=method)
    with urllib.request.urlopen(req, timeout=30) as r:
        text = r.read()
        return r.headers, json.loads(text) if text else None


auth = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
    "name": "admin", "domain": {"name": "Default"},
    "password": E.get("RBM_ADMIN_PASSWORD") or E["OS_PASSWORD"]}}},
    "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}
hdr, _ = call("POST", base + "/auth/tokens", body=auth)
tok = hdr["X-Subject-Token"]
_, svcs = call("GET", base + "/services?type=" + stype, tok)
if len(svcs["services"]) != 1:
    sys.exit("os_endpoints: %d services of type %s" % (len(svcs["services"]), stype))
sid = svcs["services"][0]["id"]
_, eps = call("GET", base + "/endpoints?service_id=%s&interface=%s" % (sid, iface), tok)
eps = [e for e in eps["endpoints"] if e.get("region_id") == region]
if len(eps) != 1:
    sys.exit("os_endpoints: %d %s endpoints of %s in %s" % (len(eps), iface, stype, region))
print(eps[0]["url"])
if new:
    call("PATCH", base + "/endpoints/" + eps[0]["id"], tok, {"endpoint": {"url": new}})
