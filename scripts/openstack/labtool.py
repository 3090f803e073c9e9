#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""REST side of the rbdmove OpenStack lab (called by scripts/openstack-lab.sh).

    labtool.py keystone-spec FILE
                            writes what keystone_lab.py lab-setup creates:
                            regions, roles, projects, users, catalog
    labtool.py keystone     checks Keystone over REST, creates the demo user's
                            application credential, writes clouds.yaml and
                            openstack.env
    labtool.py ready        waits until both regions can create servers and
                            volumes, then uploads the image, creates the flavor
                            and the volume type
    labtool.py rabbit-defs  prints a RabbitMQ definitions file (user, vhosts)

Everything comes from the environment that openstack-lab.sh exports (RBM_*).
Only the Python standard library (and PyMySQL, a dependency of the lab) is
used, with Debian's /usr/bin/python3.
"""
import base64
import hashlib
import json
import os
import shlex
import sys
import threading
import time
import urllib.error
import urllib.request

E = os.environ
T0 = time.monotonic()
HOST = "127.0.0.1"
REGIONS = ("RegionOne", "RegionTwo")


def log(msg):
    sys.stdout.write("[labtool %5.1fs] %s\n" % (time.monotonic() - T0, msg))
    sys.stdout.flush()


def die(msg):
    sys.stderr.write("labtool: %s\n" % msg)
    sys.exit(1)


def port(name):
    return int(E["RBM_PORT_" + name])


def url(name, path=""):
    return "http://%s:%d%s" % (HOST, port(name), path)


def region_ports(region):
    suffix = "R1" if region == "RegionOne" else "R2"
    return {"nova": "NOVA_" + suffix, "cinder": "CINDER_" + suffix,
            "placement": "PLACEMENT_" + suffix}


class HTTPError(Exception):
    def __init__(self, status, body):
        super().__init__("HTTP %d: %s" % (status, body[:400]))
        self.status = status
        self.body = body


def request(method, target, token=None, body=None, headers=None, raw=None,
            timeout=30, ok=(200, 201, 202, 204)):
    """One HTTP call; returns (status, headers, parsed JSON or None)."""
    hdrs = {"Accept": "application/json", "Connection": "close"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    if raw is not None:
        data = raw
        hdrs["Content-Type"] = "application/octet-stream"
    if token:
        hdrs["X-Auth-Token"] = token
    hdrs.update(headers or {})
    req = urllib.request.Request(target, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, rh, text = resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as e:
        status, rh, text = e.code, e.headers, e.read()
    text = text.decode(errors="replace")
    if status not in ok:
        raise HTTPError(status, "%s %s -> %s" % (method, target, text))
    parsed = json.loads(text) if text.strip().startswith(("{", "[")) else None
    return status, rh, parsed


def wait_for(what, fn, timeout=150, interval=1.0):
    """Calls fn() until it returns a true value; dies after timeout seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            got = fn()
            if got:
                return got
        except (OSError, HTTPError, ValueError, KeyError) as e:
            last = e
        time.sleep(interval)
    die("timed out after %ds waiting for %s (last error: %s)" % (timeout, what, last))


# --------------------------------------------------------------- Keystone
def token(user, password, project, domain="Default"):
    body = {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"name": domain}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"name": domain}}}}}
    _, h, b = request("POST", url("KEYSTONE", "/v3/auth/tokens"), body=body)
    return h["X-Subject-Token"], b["token"]


def catalog_spec():
    """What keystone_lab.py lab-setup creates (after keystone-manage bootstrap)."""
    pw = {k: E["RBM_PW_" + k.upper()] for k in
          ("demo", "nova", "cinder", "placement", "glance")}

    def per_region(make):
        return {r: make(r) for r in REGIONS}

    users = [{"name": "demo", "password": pw["demo"], "project": "demo",
              "roles": {"demo": ["member"]}}]
    # Service users: the service role (Cinder and Nova require it on service
    # tokens, see [keystone_authtoken] service_token_roles_required), plus
    # admin, which the Zed default policies still want for Nova's calls to
    # Placement and for Cinder's external events to Nova.
    for name in ("nova", "cinder", "placement", "glance"):
        users.append({"name": name, "password": pw[name], "project": "service",
                      "roles": {"service": ["service", "admin"]}})
    return {
        "regions": list(REGIONS),
        "roles": ["admin", "member", "reader", "service"],
        "projects": ["admin", "service", "demo"],
        "users": users,
        "interfaces": ["public", "internal", "admin"],
        "services": [
            {"type": "identity", "name": "keystone",
             "endpoints": per_region(lambda r: url("KEYSTONE", "/v3"))},
            {"type": "compute", "name": "nova",
             "endpoints": per_region(lambda r: url(region_ports(r)["nova"], "/v2.1"))},
            {"type": "volumev3", "name": "cinderv3",
             "endpoints": per_region(
                 lambda r: url(region_ports(r)["cinder"], "/v3/%(project_id)s"))},
            {"type": "placement", "name": "placement",
             "endpoints": per_region(lambda r: url(region_ports(r)["placement"]))},
            {"type": "image", "name": "glance",
             "endpoints": per_region(lambda r: url("GLANCE"))},
            {"type": "network", "name": "neutron",
             "endpoints": per_region(lambda r: url("NEUTRON"))},
        ],
    }


def cmd_keystone_spec():
    write_private(sys.argv[2], json.dumps(catalog_spec(), indent=1))


def cmd_keystone():
    """After lab-setup: checks Keystone over REST, creates the demo user's
    application credential, writes clouds.yaml and openstack.env."""
    pw = {k: E["RBM_PW_" + k.upper()] for k in ("admin", "demo")}
    with open(os.path.join(E["RBM_OSD"], "keystone", "lab-ids.json")) as f:
        ids = json.load(f)
    wait_for("keystone", lambda: request("GET", url("KEYSTONE", "/v3"))[0] == 200, 60, 0.3)
    admin_tok, body = token("admin", pw["admin"], "admin")
    regions = {e["region_id"] for s in body.get("catalog", []) for e in s["endpoints"]}
    missing = set(REGIONS) - regions
    if missing:
        die("the admin token's catalog lacks %s" % ", ".join(sorted(missing)))
    demo_tok, _ = token("demo", pw["demo"], "demo")
    appcred = request("POST", url("KEYSTONE", "/v3/users/%s/application_credentials"
                                  % ids["users"]["demo"]), demo_tok, {
        "application_credential": {"name": "rbdmove-lab-%d" % int(time.time()),
                                   "description": "rbdmove lab tests"}})[2]
    appcred = appcred["application_credential"]
    write_client_files(pw, appcred, ids["projects"]["admin"], ids["projects"]["demo"],
                       ids["users"])
    log("keystone: tokens for admin and demo, application credential %s" % appcred["id"])


def write_client_files(pw, appcred, admin_project, demo_project, users):
    osd, lab = E["RBM_OSD"], E["RBM_LAB"]
    auth_url = url("KEYSTONE", "/v3")
    q = json.dumps

    def pw_cloud(name, user, password, project):
        return ("  %s:\n"
                "    auth_type: password\n"
                "    auth:\n"
                "      auth_url: %s\n"
                "      username: %s\n"
                "      password: %s\n"
                "      project_name: %s\n"
                "      user_domain_name: Default\n"
                "      project_domain_name: Default\n"
                "    region_name: RegionOne\n"
                "    regions: [RegionOne, RegionTwo]\n"
                "    interface: public\n"
                "    identity_api_version: 3\n"
                % (name, q(auth_url), q(user), q(password), q(project)))

    clouds = ("# rbdmove OpenStack lab (scripts/openstack-lab.sh); regenerated at "
              "every start.\nclouds:\n"
              + pw_cloud("rbdmove-lab", "admin", pw["admin"], "admin")
              + pw_cloud("rbdmove-demo", "demo", pw["demo"], "demo")
              + ("  rbdmove-appcred:\n"
                 "    auth_type: v3applicationcredential\n"
                 "    auth:\n"
                 "      auth_url: %s\n"
                 "      application_credential_id: %s\n"
                 "      application_credential_secret: %s\n"
                 "    region_name: RegionOne\n"
                 "    regions: [RegionOne, RegionTwo]\n"
                 "    interface: public\n"
                 "    identity_api_version: 3\n"
                 % (q(auth_url), q(appcred["id"]), q(appcred["secret"]))))
    write_private(os.path.join(osd, "clouds.yaml"), clouds)

    env = [
        ("OS_CLIENT_CONFIG_FILE", os.path.join(osd, "clouds.yaml")),
        ("OS_AUTH_TYPE", "password"),
        ("OS_AUTH_URL", auth_url),
        ("OS_IDENTITY_API_VERSION", "3"),
        ("OS_INTERFACE", "public"),
        ("OS_REGION_NAME", "RegionOne"),
        ("OS_USERNAME", "admin"),
        ("OS_PASSWORD", pw["admin"]),
        ("OS_PROJECT_NAME", "admin"),
        ("OS_USER_DOMAIN_NAME", "Default"),
        ("OS_PROJECT_DOMAIN_NAME", "Default"),
        ("RBM_OS_REGIONS", "RegionOne RegionTwo"),
        ("RBM_OS_ADMIN_PROJECT_ID", admin_project),
        ("RBM_OS_DEMO_USERNAME", "demo"),
        ("RBM_OS_DEMO_PASSWORD", pw["demo"]),
        ("RBM_OS_DEMO_PROJECT_NAME", "demo"),
        ("RBM_OS_DEMO_PROJECT_ID", demo_project),
        ("RBM_OS_DEMO_USER_ID", users["demo"]),
        ("RBM_OS_APPCRED_ID", appcred["id"]),
        ("RBM_OS_APPCRED_NAME", appcred["name"]),
        ("RBM_OS_APPCRED_SECRET", appcred["secret"]),
        ("RBM_OS_IMAGE_NAME", E["RBM_IMAGE_NAME"]),
        ("RBM_OS_FLAVOR_NAME", E["RBM_FLAVOR_NAME"]),
        ("RBM_OS_VOLUME_TYPE", "ceph"),
        ("RBM_OS_HOST_R1", E["RBM_HOST_R1"]),
        ("RBM_OS_HOST_R2", E["RBM_HOST_R2"]),
        ("RBM_CEPH1_CONF", os.path.join(lab, "ceph1", "ceph.conf")),
        ("RBM_CEPH2_CONF", os.path.join(lab, "ceph2", "ceph.conf")),
    ]
    env += sorted((k, v) for k, v in E.items() if k.startswith("RBM_PORT_"))
    text = ("# rbdmove OpenStack lab (scripts/openstack-lab.sh): source me.\n"
            + "".join("export %s=%s\n" % (k, shlex.quote(v)) for k, v in env))
    # Written last by `ready`; until then a partial lab has no env file.
    write_private(os.path.join(osd, "openstack.env.pending"), text)


def write_private(path, text):
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.rename(tmp, path)


# --------------------------------------------------------------- readiness
def db_query(sql):
    import pymysql  # python3-pymysql, installed with the lab
    conn = pymysql.connect(host=HOST, port=port("MYSQL"), user=E["RBM_DB_USER"],
                           password=E["RBM_PW_DB"], connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()
    finally:
        conn.close()


def ready_region(region, tok, project_id, errors):
    try:
        ports = region_ports(region)
        host = E["RBM_HOST_R1" if region == "RegionOne" else "RBM_HOST_R2"]
        db = "nova_api_r1" if region == "RegionOne" else "nova_api_r2"
        nova = url(ports["nova"], "/v2.1")
        cinder = url(ports["cinder"], "/v3/" + project_id)
        nv = {"OpenStack-API-Version": "compute 2.37"}

        wait_for("%s nova-api" % region,
                 lambda: request("GET", nova + "/flavors", tok)[0] == 200)
        flavors = request("GET", nova + "/flavors", tok)[2]["flavors"]
        if not any(f["name"] == E["RBM_FLAVOR_NAME"] for f in flavors):
            request("POST", nova + "/flavors", tok, {"flavor": {
                "name": E["RBM_FLAVOR_NAME"], "ram": 128, "vcpus": 1, "disk": 1,
                "id": "1"}}, headers=nv)

        def hypervisor_up():
            hyps = request("GET", nova + "/os-hypervisors", tok, headers=nv)[2]
            return any(h["hypervisor_hostname"] == host and h["state"] == "up"
                       for h in hyps["hypervisors"])
        wait_for("%s nova-compute %s in os-hypervisors" % (region, host), hypervisor_up)
        # The scheduler maps new compute hosts every 5 s
        # (discover_hosts_in_cells_interval): wait for the mapping.
        wait_for("%s host mapping of %s" % (region, host),
                 lambda: db_query("SELECT host FROM %s.host_mappings WHERE host='%s'"
                                  % (db, host)))

        def placement_inventory():
            pl = url(ports["placement"])
            hdr = {"OpenStack-API-Version": "placement 1.10"}
            rps = request("GET", pl + "/resource_providers?name=" + host, tok,
                          headers=hdr)[2]["resource_providers"]
            if not rps:
                return False
            inv = request("GET", pl + "/resource_providers/%s/inventories"
                          % rps[0]["uuid"], tok, headers=hdr)[2]["inventories"]
            return "VCPU" in inv
        wait_for("%s placement inventory of %s" % (region, host), placement_inventory)
        log("%s: compute %s up, mapped, in placement" % (region, host))

        def pools():
            got = request("GET", cinder + "/scheduler-stats/get_pools", tok)[2]["pools"]
            return any(p["name"] == "%s@ceph#ceph" % host for p in got)
        wait_for("%s cinder backend %s@ceph#ceph in get_pools" % (region, host), pools,
                 timeout=180)
        types = request("GET", cinder + "/types", tok)[2]["volume_types"]
        if not any(t["name"] == "ceph" for t in types):
            request("POST", cinder + "/types", tok, {"volume_type": {
                "name": "ceph", "extra_specs": {"volume_backend_name": "ceph"}}})
        log("%s: cinder backend %s@ceph#ceph ready, volume type ceph" % (region, host))
    except SystemExit as e:
        errors.append("%s: exit %s" % (region, e.code))
    except Exception as e:  # reported by the main thread
        errors.append("%s: %r" % (region, e))


def ready_image(tok, errors):
    try:
        glance = url("GLANCE")
        wait_for("glance", lambda: request("GET", glance + "/v2/images", tok)[0] == 200)
        name = E["RBM_IMAGE_NAME"]
        imgs = request("GET", glance + "/v2/images?name=" + name, tok)[2]["images"]
        if imgs and imgs[0]["status"] == "active":
            return
        img = request("POST", glance + "/v2/images", tok, {
            "name": name, "disk_format": "raw", "container_format": "bare",
            "visibility": "public", "min_disk": 0, "min_ram": 0})[2]
        request("PUT", glance + "/v2/images/%s/file" % img["id"], tok,
                raw=b"\0" * (1 << 20))
        wait_for("image %s active" % name,
                 lambda: request("GET", glance + "/v2/images/" + img["id"],
                                 tok)[2]["status"] == "active", 30, 0.2)
        log("glance: image %s (%s) active, 1 MiB raw" % (name, img["id"]))
    except SystemExit as e:
        errors.append("glance: exit %s" % e.code)
    except Exception as e:
        errors.append("glance: %r" % (e,))


def cmd_ready():
    tok, body = token("admin", E["RBM_PW_ADMIN"], "admin")
    project_id = body["project"]["id"]
    errors = []
    threads = [threading.Thread(target=ready_region, args=(r, tok, project_id, errors))
               for r in REGIONS]
    threads.append(threading.Thread(target=ready_image, args=(tok, errors)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        die("; ".join(errors))
    osd = E["RBM_OSD"]
    os.rename(os.path.join(osd, "openstack.env.pending"),
              os.path.join(E["RBM_LAB"], "openstack.env"))


# --------------------------------------------------------------- RabbitMQ
def cmd_rabbit_defs():
    salt = os.urandom(4)
    digest = hashlib.sha256(salt + E["RBM_PW_RABBIT"].encode()).digest()
    vhosts = E["RBM_RABBIT_VHOSTS"].split()
    defs = {
        "users": [{"name": E["RBM_RABBIT_USER"],
                   "password_hash": base64.b64encode(salt + digest).decode(),
                   "hashing_algorithm": "rabbit_password_hashing_sha256",
                   "tags": "administrator"}],
        "vhosts": [{"name": v} for v in vhosts],
        "permissions": [{"user": E["RBM_RABBIT_USER"], "vhost": v, "configure": ".*",
                         "write": ".*", "read": ".*"} for v in vhosts],
    }
    print(json.dumps(defs, indent=1))


def main():
    cmds = {"keystone": cmd_keystone, "keystone-spec": cmd_keystone_spec,
            "ready": cmd_ready, "rabbit-defs": cmd_rabbit_defs}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        die("usage: labtool.py %s" % "|".join(cmds))
    cmds[sys.argv[1]]()


if __name__ == "__main__":
    main()
