#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Servers for the integration tests (rbdmove itself never creates one):
os_server.py create|delete REGION NAME|ID, in the demo project of the
OpenStack lab, with no network (microversion 2.37), through the REST API.
Reads the lab's environment (RBM_AUTH_URL, RBM_OS_DEMO_*, RBM_OS_IMAGE_NAME,
RBM_OS_FLAVOR_NAME). Prints the new server's id.
"""
import json, os, sys, time, urllib.error, urllib.request

op, region, arg = sys.argv[1:4]
E = os.environ


def call(method, url, token=None, body=None, headers=None):
    h = {"Content-Type": "application/json", "Accept": "application/json"}
    if token:
        h["X-Auth-Token"] = token
    h.update(headers or {})
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers=h, method=method)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            text = r.read()
            return r.status, r.headers, json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode(errors="replace")


auth = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
    "name": E["RBM_OS_DEMO_USERNAME"], "domain": {"name": "Default"},
    "password": E["RBM_OS_DEMO_PASSWORD"]}}}, "scope": {"project": {
        "name": E["RBM_OS_DEMO_PROJECT_NAME"], "domain": {"name": "Default"}}}}}
st, hdr, tok = call("POST", (E.get("RBM_AUTH_URL") or E["OS_AUTH_URL"]) + "/auth/tokens", body=auth)
if st != 201:
    sys.exit("auth failed: %s %s" % (st, tok))
token = hdr["X-Subject-Token"]


def endpoint(stype):
    for s in tok["token"]["catalog"]:
        if s["type"] == stype:
            for e in s["endpoints"]:
                if e["region_id"] == region and e["interface"] == "public":
                    return e["url"].rstrip("/")
    sys.exit("no %s in %s" % (stype, region))


nova = endpoint("compute")
mv = {"OpenStack-API-Version": "compute 2.37"}


def wait(sid, want, timeout=150):
    deadline = time.time() + timeout
    while time.time() < deadline:
        st, _, b = call("GET", "%s/servers/%s" % (nova, sid), token, headers=mv)
        if want == "gone" and st == 404:
            return
        if st == 200:
            status = b["server"]["status"]
            if status == want:
                return
            if status == "ERROR" and want != "ERROR":
                sys.exit("server %s went to ERROR: %s" % (sid, b["server"].get("fault")))
        # A GET of one server costs the lab's Nova a few ms: every quarter
        # of a second, so that a test does not wait a second for nothing.
        time.sleep(0.25)
    sys.exit("server %s not %s after %ds" % (sid, want, timeout))


if op == "create":
    glance = endpoint("image")
    st, _, imgs = call("GET", glance + "/v2/images?name=" + E["RBM_OS_IMAGE_NAME"], token)
    st, _, fl = call("GET", nova + "/flavors", token, headers=mv)
    flavor = [f["id"] for f in fl["flavors"] if f["name"] == E["RBM_OS_FLAVOR_NAME"]][0]
    body = {"server": {"name": arg, "imageRef": imgs["images"][0]["id"],
                       "flavorRef": flavor, "networks": "none"}}
    st, _, b = call("POST", nova + "/servers", token, body, mv)
    if st != 202:
        sys.exit("server create: %s %s" % (st, b))
    wait(b["server"]["id"], "ACTIVE")
    print(b["server"]["id"])
else:
    call("DELETE", "%s/servers/%s" % (nova, arg), token, headers=mv)
    wait(arg, "gone")
