#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""keystone-manage, plus `lab-setup` for the rbdmove OpenStack lab.

    keystone_lab.py [keystone-manage arguments]       as keystone-manage
    keystone_lab.py lab-setup --config-file F SPEC OUT

lab-setup does, after `keystone-manage bootstrap` and through the same
internal Keystone API that bootstrap uses, what would otherwise take ~60
REST calls (regions, roles, projects, users, role assignments, services and
endpoints): on a loaded 2-core machine those calls cost 30-50 s, this costs
about one. SPEC is a JSON file written by labtool.py (`keystone-spec`); the
ids it creates are written to OUT as JSON.  Runs under run.py, which imports
this module once for all keystone-manage steps.
"""
import json
import os
import sys
import uuid

from keystone.cmd import manage as keystone_manage


def lab_setup(args):
    if len(args) != 4 or args[0] != "--config-file":
        sys.stderr.write("usage: lab-setup --config-file FILE SPEC OUT\n")
        return 2
    conf_file, spec_file, out_file = args[1], args[2], args[3]
    with open(spec_file) as f:
        spec = json.load(f)

    import keystone.conf
    from keystone.common import driver_hints
    from keystone.common import provider_api
    from keystone.common import sql
    from keystone import exception
    from keystone.server import backends

    conf = keystone.conf.CONF
    keystone.conf.configure()
    sql.initialize()
    keystone.conf.set_default_for_default_log_levels()
    conf(args=["--config-file", conf_file], project="keystone")
    keystone.conf.setup_logging()
    backends.load_backends()
    api = provider_api.ProviderAPIs
    domain = conf.identity.default_domain_id

    def by_name(items, name):
        return next((i for i in items if i["name"] == name), None)

    for region in spec["regions"]:
        try:
            api.catalog_api.create_region(region_ref={"id": region})
        except exception.Conflict:
            pass

    roles = {}
    for name in spec["roles"]:
        found = by_name(api.role_api.list_roles(driver_hints.Hints()), name)
        if not found:
            rid = uuid.uuid4().hex
            found = api.role_api.create_role(rid, {"id": rid, "name": name})
        roles[name] = found["id"]

    projects = {}
    for name in spec["projects"]:
        try:
            projects[name] = api.resource_api.get_project_by_name(name, domain)["id"]
        except exception.ProjectNotFound:
            pid = uuid.uuid4().hex
            api.resource_api.create_project(pid, {
                "id": pid, "name": name, "domain_id": domain, "enabled": True,
                "description": "rbdmove lab"})
            projects[name] = pid

    users = {}
    for u in spec["users"]:
        try:
            user = api.identity_api.get_user_by_name(u["name"], domain)
        except exception.UserNotFound:
            user = api.identity_api.create_user(user_ref={
                "name": u["name"], "enabled": True, "domain_id": domain,
                "password": u["password"],
                "default_project_id": projects[u["project"]]})
        users[u["name"]] = user["id"]
        for project, role_names in u["roles"].items():
            for role in role_names:
                try:
                    api.assignment_api.add_role_to_user_and_project(
                        user_id=user["id"], project_id=projects[project],
                        role_id=roles[role])
                except exception.Conflict:
                    pass

    for s in spec["services"]:
        hints = driver_hints.Hints()
        hints.add_filter("type", s["type"])
        service = next(iter(api.catalog_api.list_services(hints)), None)
        if not service:
            sid = uuid.uuid4().hex
            service = api.catalog_api.create_service(sid, {
                "id": sid, "name": s["name"], "type": s["type"], "enabled": True})
        hints = driver_hints.Hints()
        hints.add_filter("service_id", service["id"])
        have = {(e["region_id"], e["interface"])
                for e in api.catalog_api.list_endpoints(hints)}
        for region, url in s["endpoints"].items():
            for interface in spec["interfaces"]:
                if (region, interface) in have:
                    continue
                eid = uuid.uuid4().hex
                api.catalog_api.create_endpoint(eid, {
                    "id": eid, "interface": interface, "url": url,
                    "service_id": service["id"], "region_id": region,
                    "enabled": True})

    with open(out_file, "w") as f:
        json.dump({"roles": roles, "projects": projects, "users": users}, f)
    return 0


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "lab-setup":
        return lab_setup(sys.argv[2:])
    return keystone_manage.main()


if __name__ == "__main__":
    sys.exit(main())
