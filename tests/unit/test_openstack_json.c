/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_openstack_json.c: parsing of Keystone, Cinder and Nova
 * answers (recorded in tests/data/openstack/), catalog selection, error
 * bodies and quota arithmetic. No network, no mocks of libcurl: only the
 * pure functions of openstack/ are exercised.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "openstack/cinder.h"
#include "openstack/http.h"
#include "openstack/keystone.h"
#include "openstack/nova.h"
#include "rbdmove/base/xalloc.h"

#define DATA TEST_DATA_DIR "/openstack/"

static char *load(const char *name, size_t *len)
{
    char *path = xasprintf(DATA "%s", name);
    FILE *f = fopen(path, "rb");
    char *data;
    long n;

    if (!f)
        fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    data = xmalloc((size_t)n + 1);
    if (fread(data, 1, (size_t)n, f) != (size_t)n)
        fail_msg("cannot read %s", path);
    data[n] = '\0';
    fclose(f);
    free(path);
    *len = (size_t)n;
    return data;
}

/* ---- Keystone ------------------------------------------------------------ */

static int token_setup(void **state)
{
    struct keystone_token_info *info = xcalloc(1, sizeof(*info));
    struct error err = ERROR_INIT;
    size_t len;
    char *body = load("token_two_regions.json", &len);

    assert_int_equal(keystone_token_parse(body, len, info, &err), 0);
    free(body);
    *state = info;
    return 0;
}

static int token_teardown(void **state)
{
    keystone_token_info_release(*state);
    free(*state);
    return 0;
}

static void test_keystone_parses_token_with_catalog(void **state)
{
    struct keystone_token_info *info = *state;

    assert_string_equal(info->user_name, "demo");
    assert_string_equal(info->user_id, "423f19a4ac1e4f48bbb4180756e6eb6c");
    assert_string_equal(info->project_id, "a6944d763bf64ee6a275f1263fae0352");
    assert_string_equal(info->project_name, "demo");
    /* 2026-11-22T10:42:17Z */
    assert_true(info->expires_at == 1795344137.0);
    assert_int_equal(info->n_roles, 2);
    assert_string_equal(info->roles[0], "member");
    assert_int_equal(info->catalog.n, 9);
}

static void test_keystone_parses_unscoped_token(void **state)
{
    struct keystone_token_info info;
    struct error err = ERROR_INIT;
    size_t len;
    char *body = load("token_unscoped.json", &len);

    (void)state;
    assert_int_equal(keystone_token_parse(body, len, &info, &err), 0);
    assert_null(info.project_id);
    assert_int_equal(info.catalog.n, 0);
    assert_true(info.expires_at == 1795344137.0);
    keystone_token_info_release(&info);
    free(body);
}

static void test_keystone_rejects_token_without_user(void **state)
{
    struct keystone_token_info info;
    struct error err = ERROR_INIT;
    const char *body =
        "{\"token\": {\"expires_at\": \"2026-11-22T10:42:17Z\"}}";

    (void)state;
    assert_int_equal(keystone_token_parse(body, strlen(body), &info, &err), -1);
    assert_int_equal(err.kind, ERROR_PROTOCOL);
    assert_non_null(strstr(err.msg, "user"));
    assert_null(info.catalog.endpoints);
}

static void test_keystone_time_parse_forms(void **state)
{
    double t = 0;

    (void)state;
    assert_int_equal(keystone_time_parse("1970-01-01T00:01:40Z", &t), 0);
    assert_true(t == 100.0);
    assert_int_equal(keystone_time_parse("1970-01-01T00:01:40.500000Z", &t), 0);
    assert_true(t == 100.5);
    assert_int_equal(keystone_time_parse("1970-01-01T00:01:40+00:00", &t), 0);
    assert_int_equal(keystone_time_parse("yesterday", &t), -1);
    assert_int_equal(keystone_time_parse("1970-01-01T00:01:40+02:00", &t), -1);
}

static const char *const volume_types[] = {"volumev3", "block-storage", NULL};
static const char *const compute_types[] = {"compute", NULL};
static const char *const placement_types[] = {"placement", NULL};
static const char *const image_types[] = {"image", NULL};

static void test_catalog_picks_region_and_interface(void **state)
{
    struct keystone_token_info *info = *state;
    struct error err = ERROR_INIT;
    const char *url = NULL;

    assert_int_equal(keystone_catalog_find(&info->catalog, volume_types,
                                           "RegionTwo", NULL, &url, &err),
                     0);
    assert_string_equal(url, "http://127.0.0.1:18786/v3/"
                             "a6944d763bf64ee6a275f1263fae0352");
    assert_int_equal(keystone_catalog_find(&info->catalog, volume_types,
                                           "RegionOne", "internal", &url, &err),
                     0);
    assert_string_equal(url, "http://10.0.0.5:8776/v3/"
                             "a6944d763bf64ee6a275f1263fae0352");
    /* The v2 spelling of an interface is accepted on both sides. */
    assert_int_equal(keystone_catalog_find(&info->catalog, compute_types,
                                           "RegionOne", "publicURL", &url,
                                           &err),
                     0);
    assert_string_equal(url, "http://127.0.0.1:18774/v2.1");
    assert_int_equal(keystone_catalog_find(&info->catalog, image_types,
                                           "RegionOne", "public", &url, &err),
                     0);
    assert_string_equal(url, "http://127.0.0.1:19292");
}

static void test_catalog_unknown_region_is_usage_error(void **state)
{
    struct keystone_token_info *info = *state;
    struct error err = ERROR_INIT;
    const char *url = "x";

    assert_int_equal(keystone_catalog_find(&info->catalog, compute_types,
                                           "RegionThree", NULL, &url, &err),
                     -1);
    assert_null(url);
    assert_int_equal(err.kind, ERROR_USAGE);
    assert_non_null(strstr(err.msg, "region 'RegionThree'"));
    assert_non_null(strstr(err.msg, "RegionOne, RegionTwo"));
}

static void test_catalog_service_missing_in_region(void **state)
{
    struct keystone_token_info *info = *state;
    struct error err = ERROR_INIT;
    const char *url = NULL;

    assert_int_equal(keystone_catalog_find(&info->catalog, placement_types,
                                           "RegionTwo", NULL, &url, &err),
                     -1);
    assert_int_equal(err.kind, ERROR_API);
    assert_non_null(strstr(err.msg, "no public endpoint in region "
                                    "'RegionTwo' (only in: RegionOne)"));
}

static void test_catalog_service_missing_everywhere(void **state)
{
    struct keystone_token_info *info = *state;
    struct error err = ERROR_INIT;
    const char *const types[] = {"network", NULL};
    const char *url = NULL;

    assert_int_equal(keystone_catalog_find(&info->catalog, types, "RegionOne",
                                           NULL, &url, &err),
                     -1);
    assert_int_equal(err.kind, ERROR_API);
    assert_non_null(strstr(err.msg, "no 'network' service"));
}

static void test_catalog_interface_missing(void **state)
{
    struct keystone_token_info *info = *state;
    struct error err = ERROR_INIT;
    const char *url = NULL;

    assert_int_equal(keystone_catalog_find(&info->catalog, compute_types,
                                           "RegionOne", "admin", &url, &err),
                     -1);
    assert_int_equal(err.kind, ERROR_API);
    assert_non_null(strstr(err.msg, "no admin endpoint"));
    assert_non_null(strstr(err.msg, "interfaces: public"));
}

static void test_catalog_without_region(void **state)
{
    struct keystone_token_info *info = *state;
    struct error err = ERROR_INIT;
    const char *url = NULL;

    /* One region offers placement: no choice to make. */
    assert_int_equal(keystone_catalog_find(&info->catalog, placement_types,
                                           NULL, NULL, &url, &err),
                     0);
    assert_string_equal(url, "http://127.0.0.1:18778");
    /* Two regions offer compute: refuse to guess. */
    assert_int_equal(keystone_catalog_find(&info->catalog, compute_types, NULL,
                                           NULL, &url, &err),
                     -1);
    assert_int_equal(err.kind, ERROR_USAGE);
    assert_non_null(strstr(err.msg, "--os-region-name"));
}

static void test_catalog_type_preference(void **state)
{
    struct keystone_token_info *info = *state;
    struct error err = ERROR_INIT;
    const char *const types[] = {"block-storage", "volumev3", NULL};
    const char *url = NULL;

    /* block-storage is absent; the alias that exists is used. */
    assert_int_equal(keystone_catalog_find(&info->catalog, types, "RegionOne",
                                           NULL, &url, &err),
                     0);
    assert_string_equal(url, "http://127.0.0.1:18776/v3/"
                             "a6944d763bf64ee6a275f1263fae0352");
}

static void test_catalog_regions_list(void **state)
{
    struct keystone_token_info *info = *state;
    struct buf b = BUF_INIT;

    keystone_catalog_regions(&info->catalog, &b);
    assert_string_equal(buf_str(&b), "RegionOne, RegionTwo");
    buf_release(&b);
}

static void test_keystone_auth_check_names_missing(void **state)
{
    struct keystone_auth a;
    struct error err = ERROR_INIT;

    (void)state;
    memset(&a, 0, sizeof(a));
    assert_int_equal(keystone_auth_check(&a, &err), -1);
    assert_non_null(strstr(err.msg, "OS_AUTH_URL"));
    keystone_auth_set(&a.auth_url, "http://127.0.0.1:15000/v3");
    keystone_auth_set(&a.username, "demo");
    assert_int_equal(keystone_auth_check(&a, &err), -1);
    assert_non_null(strstr(err.msg, "OS_USER_DOMAIN_NAME"));
    keystone_auth_set(&a.user_domain_name, "Default");
    assert_int_equal(keystone_auth_check(&a, &err), -1);
    assert_non_null(strstr(err.msg, "OS_PASSWORD"));
    keystone_auth_set(&a.password, "secret");
    assert_int_equal(keystone_auth_check(&a, &err), -1);
    assert_non_null(strstr(err.msg, "OS_PROJECT_NAME"));
    keystone_auth_set(&a.project_id, "a6944d763bf64ee6a275f1263fae0352");
    assert_int_equal(keystone_auth_check(&a, &err), 0);
    assert_int_equal(keystone_auth_resolve(&a), KEYSTONE_AUTH_PASSWORD);
    keystone_auth_set(&a.application_credential_secret, "s");
    assert_int_equal(keystone_auth_resolve(&a),
                     KEYSTONE_AUTH_APPLICATION_CREDENTIAL);
    assert_int_equal(keystone_auth_check(&a, &err), -1);
    assert_non_null(strstr(err.msg, "OS_APPLICATION_CREDENTIAL_ID"));
    keystone_auth_set(&a.application_credential_name, "mover");
    assert_int_equal(keystone_auth_check(&a, &err), 0);
    keystone_auth_release(&a);
    assert_null(a.password);
}

/* ---- Cinder -------------------------------------------------------------- */

static void test_cinder_parses_volume_in_use(void **state)
{
    struct cinder_volume v;
    struct error err = ERROR_INIT;
    char image[64];
    size_t len;
    char *body = load("volume_in_use.json", &len);

    (void)state;
    assert_int_equal(cinder_volume_parse(body, len, &v, &err), 0);
    assert_string_equal(v.id, "6edbc2f4-1507-44f8-ac0d-eed1d2608d38");
    assert_string_equal(v.name, "data-1");
    assert_string_equal(v.status, "in-use");
    assert_int_equal(v.size_gib, 10);
    assert_string_equal(v.volume_type, "ceph");
    assert_string_equal(v.availability_zone, "nova");
    assert_string_equal(v.host, "rbm-r1@ceph#ceph");
    assert_string_equal(v.description, "web data");
    assert_null(v.name_id);
    assert_null(v.migration_status);
    assert_false(v.bootable);
    assert_false(v.multiattach);
    assert_int_equal(v.n_attachments, 1);
    assert_string_equal(v.attachments[0].server_id,
                        "f4fda93b-06e0-4743-8117-bc8bcecd651b");
    assert_string_equal(v.attachments[0].attachment_id,
                        "d8777e47-4c5c-4e4b-9a0c-2a2a6c36e1d5");
    assert_string_equal(v.attachments[0].device, "/dev/vdb");
    assert_string_equal(v.attachments[0].host_name, "compute1");
    assert_int_equal(v.n_metadata, 2);
    assert_string_equal(cinder_volume_meta(&v, "owner"), "web");
    assert_null(cinder_volume_meta(&v, "missing"));
    assert_string_equal(cinder_volume_rbd_image(&v, image, sizeof(image)),
                        "volume-6edbc2f4-1507-44f8-ac0d-eed1d2608d38");
    cinder_volume_release(&v);
    free(body);
}

static void test_cinder_parses_migrated_volume(void **state)
{
    struct cinder_volume v;
    struct error err = ERROR_INIT;
    char image[64];
    size_t len;
    char *body = load("volume_migrated.json", &len);

    (void)state;
    assert_int_equal(cinder_volume_parse(body, len, &v, &err), 0);
    assert_null(v.name);
    assert_true(v.bootable); /* "true" as a string */
    assert_true(v.encrypted);
    assert_true(v.multiattach);
    assert_int_equal(v.n_attachments, 0);
    assert_int_equal(v.n_metadata, 0);
    assert_string_equal(v.migration_status, "success");
    assert_string_equal(cinder_volume_rbd_image(&v, image, sizeof(image)),
                        "volume-11111111-2222-4333-8444-555555555555");
    cinder_volume_release(&v);
    free(body);
}

static void test_cinder_rejects_volume_without_status(void **state)
{
    struct cinder_volume v;
    struct error err = ERROR_INIT;
    size_t len;
    char *body = load("volume_bad.json", &len);

    (void)state;
    assert_int_equal(cinder_volume_parse(body, len, &v, &err), -1);
    assert_int_equal(err.kind, ERROR_PROTOCOL);
    assert_non_null(strstr(err.msg, "status"));
    assert_null(v.status);
    assert_int_equal(cinder_volume_parse("{\"volumes\": []}", 15, &v, &err),
                     -1);
    assert_non_null(strstr(err.msg, "no \"volume\""));
    assert_int_equal(cinder_volume_parse("not json", 8, &v, &err), -1);
    assert_non_null(strstr(err.msg, "malformed JSON in Cinder volume"));
    free(body);
}

static void test_cinder_parses_volume_list(void **state)
{
    char *next = NULL;
    struct cinder_volume *v = NULL;
    struct error err = ERROR_INIT;
    size_t n = 0, len;
    char *body = load("volume_list.json", &len);

    (void)state;
    assert_int_equal(cinder_volume_list_parse(body, len, &v, &n, &next, &err),
                     0);
    assert_string_equal(next, "9b1e0a52-6c1d-4d7e-9c3a-55b0a1c2d3e4");
    free(next);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].name, "data-1");
    assert_int_equal(v[0].n_attachments, 1);
    assert_string_equal(v[1].status, "error");
    assert_int_equal(v[1].size_gib, 2);
    cinder_volumes_free(v, n);
    free(body);
}

static void test_cinder_status_classes(void **state)
{
    static const char *const busy[] = {"creating",    "attaching", "detaching",
                                       "reserved",    "deleting",  "extending",
                                       "maintenance", "managing",  NULL};
    static const char *const bad[] = {"error",           "error_deleting",
                                      "error_restoring", "error_extending",
                                      "error_managing",  NULL};

    (void)state;
    assert_int_equal(cinder_status_classify("available"), CINDER_STATUS_STABLE);
    assert_int_equal(cinder_status_classify("in-use"), CINDER_STATUS_STABLE);
    for (int i = 0; busy[i]; i++)
        assert_int_equal(cinder_status_classify(busy[i]), CINDER_STATUS_BUSY);
    for (int i = 0; bad[i]; i++)
        assert_int_equal(cinder_status_classify(bad[i]), CINDER_STATUS_ERROR);
    assert_int_equal(cinder_status_classify("weird"), CINDER_STATUS_UNKNOWN);
    assert_int_equal(cinder_status_classify(NULL), CINDER_STATUS_UNKNOWN);
}

static void test_cinder_parses_manageable(void **state)
{
    struct cinder_manageable *m = NULL;
    struct error err = ERROR_INIT;
    size_t n = 0, len;
    char *body = load("manageable.json", &len);

    (void)state;
    assert_int_equal(cinder_manageable_parse(body, len, &m, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(m[0].reference,
                        "volume-6edbc2f4-1507-44f8-ac0d-eed1d2608d38");
    assert_false(m[0].safe_to_manage);
    assert_string_equal(m[0].reason_not_safe, "already managed");
    assert_string_equal(m[0].cinder_id, "6edbc2f4-1507-44f8-ac0d-eed1d2608d38");
    assert_string_equal(m[1].reference, "rbdmove-incoming-1");
    assert_true(m[1].safe_to_manage);
    assert_int_equal(m[1].size_gib, 2);
    assert_null(m[1].cinder_id);
    cinder_manageables_free(m, n);
    /* The underscore spelling is not what Cinder sends. */
    assert_int_equal(cinder_manageable_parse("{\"manageable_volumes\": []}", 25,
                                             &m, &n, &err),
                     -1);
    assert_int_equal(err.kind, ERROR_PROTOCOL);
    free(body);
}

static void test_cinder_parses_pools(void **state)
{
    struct cinder_pool *p = NULL;
    struct error err = ERROR_INIT;
    const struct cinder_pool *hit;
    size_t n = 0, len;
    char *body = load("pools.json", &len);

    (void)state;
    assert_int_equal(cinder_pools_parse(body, len, &p, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(p[0].name, "rbm-r1@ceph#ceph");
    assert_string_equal(p[0].backend_name, "ceph");
    assert_string_equal(p[0].storage_protocol, "ceph");
    assert_string_equal(p[0].rbd_pool, "volumes");
    assert_string_equal(p[0].rbd_user, "admin");
    assert_string_equal(p[0].ceph_fsid, "8c1c2e6a-7b3d-4f5e-9a0b-1c2d3e4f5a6b");
    assert_true(p[0].free_gib > 27.9 && p[0].free_gib < 28.0);
    /* Other drivers: no RBD fields, "infinite"/"unknown" capacities. */
    assert_null(p[1].rbd_pool);
    assert_true(p[1].total_gib < 0);
    assert_true(p[1].free_gib < 0);
    hit = cinder_pool_for_host(p, n, "rbm-r1@ceph#ceph");
    assert_ptr_equal(hit, &p[0]);
    assert_null(cinder_pool_for_host(p, n, "other@ceph#ceph"));
    assert_null(cinder_pool_for_host(p, n, NULL));
    cinder_pools_free(p, n);
    free(body);
}

static void test_cinder_limits_and_quota_check(void **state)
{
    struct cinder_limits l;
    struct error err = ERROR_INIT;
    struct buf why = BUF_INIT;
    size_t len, qlen;
    char *body = load("limits.json", &len);
    char *qs = load("quota_set.json", &qlen);

    (void)state;
    assert_int_equal(cinder_limits_parse(body, len, &l, &err), 0);
    assert_int_equal(l.volumes_max, 10);
    assert_int_equal(l.volumes_used, 10);
    assert_int_equal(l.gigabytes_max, 1000);
    assert_int_equal(l.gigabytes_used, 995);
    assert_true(l.per_volume_gigabytes == CINDER_LIMIT_UNKNOWN);
    /* Limits alone: the volume count and the gigabytes are exhausted. */
    assert_int_equal(cinder_limits_check(&l, 10, &why), 2);
    assert_non_null(strstr(buf_str(&why), "volume quota exceeded: 10 of 10"));
    assert_non_null(strstr(buf_str(&why), "gigabyte quota exceeded: 995 of "
                                          "1000 in use, 10 more needed"));
    assert_int_equal(cinder_quota_set_parse(qs, qlen, "ceph", &l, &err), 0);
    assert_int_equal(l.per_volume_gigabytes, 5);
    assert_int_equal(l.type_volumes_max, -1);
    assert_int_equal(l.type_volumes_used, 3);
    assert_int_equal(l.type_gigabytes_max, 20);
    assert_int_equal(l.type_gigabytes_used, 15);
    buf_reset(&why);
    assert_int_equal(cinder_limits_check(&l, 10, &why), 4);
    assert_non_null(strstr(buf_str(&why), "at most 5 GiB"));
    /* Unlimited and unknown limits never complain. */
    l.volumes_max = -1;
    l.gigabytes_max = CINDER_LIMIT_UNKNOWN;
    l.per_volume_gigabytes = -1;
    l.type_gigabytes_max = -1;
    assert_int_equal(cinder_limits_check(&l, 10, NULL), 0);
    buf_release(&why);
    free(body);
    free(qs);
}

static void test_cinder_parses_types(void **state)
{
    struct cinder_volume_type *t = NULL;
    struct error err = ERROR_INIT;
    size_t n = 0, len;
    char *body = load("types.json", &len);

    (void)state;
    assert_int_equal(cinder_types_parse(body, len, &t, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(t[0].name, "__DEFAULT__");
    assert_true(t[0].is_public);
    assert_null(t[0].backend_name);
    assert_string_equal(t[1].backend_name, "ceph");
    assert_false(t[1].is_public);
    assert_ptr_equal(cinder_type_lookup(t, n, "ceph"), &t[1]);
    assert_ptr_equal(
        cinder_type_lookup(t, n, "3b3b0a7e-51a9-4b7a-8a5a-1f7a0e6c9d20"),
        &t[0]);
    assert_null(cinder_type_lookup(t, n, "gold"));
    cinder_types_free(t, n);
    free(body);
}

/* ---- Nova ---------------------------------------------------------------- */

static void test_nova_parses_server(void **state)
{
    struct nova_server s;
    struct error err = ERROR_INIT;
    size_t len;
    char *body = load("server.json", &len);

    (void)state;
    assert_int_equal(nova_server_parse(body, len, &s, &err), 0);
    assert_string_equal(s.id, "f4fda93b-06e0-4743-8117-bc8bcecd651b");
    assert_string_equal(s.name, "web-1");
    assert_string_equal(s.status, "ACTIVE");
    assert_string_equal(s.vm_state, "active");
    assert_null(s.task_state);
    assert_string_equal(s.availability_zone, "nova");
    assert_string_equal(s.host, "compute1");
    assert_string_equal(s.project_id, "a6944d763bf64ee6a275f1263fae0352");
    assert_false(s.locked);
    assert_int_equal(s.n_volumes, 1);
    assert_string_equal(s.volume_ids[0],
                        "6edbc2f4-1507-44f8-ac0d-eed1d2608d38");
    assert_true(nova_server_can_attach(&s, NULL));
    nova_server_release(&s);
    free(body);
}

static void test_nova_busy_and_error_servers_cannot_attach(void **state)
{
    struct nova_server *s = NULL;
    struct error err = ERROR_INIT;
    struct buf why = BUF_INIT;
    size_t n = 0, len;
    char *body = load("server_list_busy.json", &len);

    (void)state;
    assert_int_equal(nova_server_list_parse(body, len, &s, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_true(s[0].locked);
    assert_false(nova_server_can_attach(&s[0], &why));
    assert_non_null(strstr(buf_str(&why), "busy (task 'resize_prep')"));
    buf_reset(&why);
    assert_false(nova_server_can_attach(&s[1], &why));
    assert_non_null(strstr(buf_str(&why), "is ERROR"));
    for (size_t i = 0; i < n; i++)
        nova_server_release(&s[i]);
    free(s);
    buf_release(&why);
    free(body);
}

static void test_nova_parses_attachments(void **state)
{
    struct nova_attachment *a = NULL;
    struct nova_attachment one;
    struct error err = ERROR_INIT;
    size_t n = 0, len;
    char *body = load("attachments.json", &len);
    char *created;

    (void)state;
    assert_int_equal(nova_attachments_parse(body, len, &a, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(a[0].volume_id, "6edbc2f4-1507-44f8-ac0d-eed1d2608d38");
    assert_string_equal(a[0].server_id, "f4fda93b-06e0-4743-8117-bc8bcecd651b");
    assert_string_equal(a[0].device, "/dev/vdb");
    assert_null(a[0].attachment_id);
    assert_string_equal(a[1].attachment_id,
                        "e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b");
    nova_attachments_free(a, n);
    free(body);

    created = load("attachment_created.json", &len);
    assert_int_equal(nova_attachment_parse(created, len, &one, &err), 0);
    assert_string_equal(one.device, "/dev/vdb");
    nova_attachments_free(NULL, 0);
    free(one.device);
    free(created);
}

/* ---- HTTP error bodies and helpers ----------------------------------------
 */

static void check_message(const char *file, long status, const char *want)
{
    struct buf b = BUF_INIT;
    size_t len;
    char *body = load(file, &len);

    http_error_message(status, body, len, &b);
    assert_string_equal(buf_str(&b), want);
    buf_release(&b);
    free(body);
}

static void test_http_extracts_service_messages(void **state)
{
    struct buf b = BUF_INIT;

    (void)state;
    check_message("error_keystone_401.json", 401,
                  "The request you have made requires authentication.");
    check_message("error_cinder_404.json", 404,
                  "Volume 6edbc2f4-1507-44f8-ac0d-000000000000 could not be "
                  "found.");
    check_message("error_nova_409.json", 409,
                  "Cannot 'attach_volume' instance "
                  "f4fda93b-06e0-4743-8117-bc8bcecd651b while it is in "
                  "task_state resize_prep");
    check_message("error_placement.json", 409,
                  "There was a conflict when trying to complete your "
                  "request.\n\n Unable to allocate inventory");
    check_message("error_webob_404.txt", 404,
                  "404 Not Found The resource could not be found.");
    http_error_message(503, "<html><body>busy</body></html>", 30, &b);
    assert_string_equal(buf_str(&b), "service unavailable");
    buf_reset(&b);
    http_error_message(418, NULL, 0, &b);
    assert_string_equal(buf_str(&b), "request refused");
    buf_reset(&b);
    http_error_message(400, "{\"message\": \"bad thing\\n\"}", 26, &b);
    assert_string_equal(buf_str(&b), "bad thing");
    buf_release(&b);
}

static void test_http_helpers(void **state)
{
    struct buf b = BUF_INIT;

    (void)state;
    http_url_escape(&b, "a b/c?d=é~_.-");
    assert_string_equal(buf_str(&b), "a%20b%2Fc%3Fd%3D%C3%A9~_.-");
    buf_release(&b);
    assert_true(http_is_uuid("6edbc2f4-1507-44f8-ac0d-eed1d2608d38"));
    assert_true(http_is_uuid("6EDBC2F4-1507-44F8-AC0D-EED1D2608D38"));
    assert_false(http_is_uuid("6edbc2f4150744f8ac0deed1d2608d38"));
    assert_false(http_is_uuid("data-1"));
    assert_false(http_is_uuid("6edbc2f4-1507-44f8-ac0d-eed1d2608d3g"));
    assert_false(http_is_uuid(NULL));
}

/* ---- answers recorded from the lab (Keystone 22, Cinder 21, Nova 26) ---- */

static void test_recorded_token_and_catalog(void **state)
{
    struct keystone_token_info info;
    struct error err = ERROR_INIT;
    const char *url = NULL;
    size_t len;
    char *body = load("lab_token.json", &len);

    (void)state;
    assert_int_equal(keystone_token_parse(body, len, &info, &err), 0);
    assert_string_equal(info.user_name, "demo");
    assert_non_null(info.project_id);
    assert_true(info.expires_at > 1.7e9);
    /* 6 services x 2 regions x 3 interfaces */
    assert_int_equal(info.catalog.n, 36);
    assert_int_equal(keystone_catalog_find(&info.catalog, volume_types,
                                           "RegionTwo", NULL, &url, &err),
                     0);
    assert_non_null(strstr(url, ":18786/v3/"));
    assert_non_null(strstr(url, info.project_id));
    assert_int_equal(keystone_catalog_find(&info.catalog, compute_types,
                                           "RegionOne", "internal", &url, &err),
                     0);
    assert_non_null(strstr(url, ":18774/"));
    keystone_token_info_release(&info);
    free(body);
}

static void test_recorded_volume_admin_and_member_views(void **state)
{
    struct cinder_volume admin, member;
    struct error err = ERROR_INIT;
    size_t len;
    char *a = load("lab_volume_in_use.json", &len);
    char *m;

    (void)state;
    assert_int_equal(cinder_volume_parse(a, len, &admin, &err), 0);
    m = load("lab_volume_in_use_demo.json", &len);
    assert_int_equal(cinder_volume_parse(m, len, &member, &err), 0);
    assert_string_equal(admin.id, member.id);
    assert_string_equal(admin.status, "in-use");
    assert_int_equal(admin.size_gib, 1);
    assert_string_equal(admin.volume_type, "ceph");
    /* Only admins see the backend. */
    assert_string_equal(admin.host, "rbm-r1@ceph#ceph");
    assert_null(member.host);
    assert_int_equal(member.n_attachments, 1);
    assert_string_equal(member.attachments[0].device, "/dev/sdb");
    assert_non_null(member.attachments[0].attachment_id);
    assert_string_equal(cinder_volume_meta(&member, "rbdmove.test"), "t41");
    cinder_volume_release(&admin);
    cinder_volume_release(&member);
    free(a);
    free(m);
}

static void test_recorded_server_and_attachments(void **state)
{
    struct nova_server s;
    struct nova_attachment *att = NULL;
    struct error err = ERROR_INIT;
    size_t len, n = 0;
    char *body = load("lab_server.json", &len);
    char *list;

    (void)state;
    assert_int_equal(nova_server_parse(body, len, &s, &err), 0);
    assert_string_equal(s.status, "ACTIVE");
    assert_null(s.task_state);
    assert_true(nova_server_can_attach(&s, NULL));
    assert_int_equal(s.n_volumes, 1);
    list = load("lab_attachments.json", &len);
    assert_int_equal(nova_attachments_parse(list, len, &att, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(att[0].server_id, s.id);
    assert_string_equal(att[0].volume_id, s.volume_ids[0]);
    assert_string_equal(att[0].device, "/dev/sdb");
    nova_attachments_free(att, n);
    nova_server_release(&s);
    free(list);
    free(body);
}

static void test_recorded_backend_quota_types(void **state)
{
    struct cinder_pool *p = NULL;
    struct cinder_volume_type *t = NULL;
    struct cinder_manageable *m = NULL;
    struct cinder_limits l;
    struct error err = ERROR_INIT;
    size_t len, n = 0, nt = 0, nm = 0;
    char *pools = load("lab_pools.json", &len);
    char *limits, *qs, *types, *man;

    (void)state;
    assert_int_equal(cinder_pools_parse(pools, len, &p, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(p[0].rbd_pool, "volumes");
    assert_string_equal(p[0].rbd_user, "admin");
    assert_int_equal(strlen(p[0].ceph_fsid), 36);
    limits = load("lab_limits.json", &len);
    assert_int_equal(cinder_limits_parse(limits, len, &l, &err), 0);
    assert_int_equal(l.volumes_max, 10);
    assert_int_equal(l.gigabytes_max, 1000);
    qs = load("lab_quota_set.json", &len);
    assert_int_equal(cinder_quota_set_parse(qs, len, "ceph", &l, &err), 0);
    assert_int_equal(l.per_volume_gigabytes, -1);
    assert_int_equal(l.type_volumes_max, -1);
    assert_int_equal(cinder_limits_check(&l, 1, NULL), 0);
    types = load("lab_types.json", &len);
    assert_int_equal(cinder_types_parse(types, len, &t, &nt, &err), 0);
    assert_non_null(cinder_type_lookup(t, nt, "ceph"));
    assert_string_equal(cinder_type_lookup(t, nt, "ceph")->backend_name,
                        "ceph");
    man = load("lab_manageable.json", &len);
    assert_int_equal(cinder_manageable_parse(man, len, &m, &nm, &err), 0);
    assert_true(nm > 0);
    for (size_t i = 0; i < nm; i++) {
        if (m[i].cinder_id)
            assert_false(m[i].safe_to_manage);
    }
    cinder_manageables_free(m, nm);
    cinder_types_free(t, nt);
    cinder_pools_free(p, n);
    free(pools);
    free(limits);
    free(qs);
    free(types);
    free(man);
}

static void test_recorded_error_bodies(void **state)
{
    (void)state;
    check_message("lab_error_keystone_401.json", 401,
                  "The request you have made requires authentication.");
    check_message("lab_error_cinder_404.json", 404,
                  "Volume 00000000-0000-4000-8000-000000000000 could not be "
                  "found.");
    check_message("lab_error_cinder_400.json", 400,
                  "Invalid filters name are found in query options.");
    check_message("lab_error_nova_404.json", 404,
                  "Instance 00000000-0000-4000-8000-000000000000 could not "
                  "be found.");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_keystone_parses_token_with_catalog,
                                        token_setup, token_teardown),
        cmocka_unit_test(test_keystone_parses_unscoped_token),
        cmocka_unit_test(test_keystone_rejects_token_without_user),
        cmocka_unit_test(test_keystone_time_parse_forms),
        cmocka_unit_test_setup_teardown(test_catalog_picks_region_and_interface,
                                        token_setup, token_teardown),
        cmocka_unit_test_setup_teardown(
            test_catalog_unknown_region_is_usage_error, token_setup,
            token_teardown),
        cmocka_unit_test_setup_teardown(test_catalog_service_missing_in_region,
                                        token_setup, token_teardown),
        cmocka_unit_test_setup_teardown(test_catalog_service_missing_everywhere,
                                        token_setup, token_teardown),
        cmocka_unit_test_setup_teardown(test_catalog_interface_missing,
                                        token_setup, token_teardown),
        cmocka_unit_test_setup_teardown(test_catalog_without_region,
                                        token_setup, token_teardown),
        cmocka_unit_test_setup_teardown(test_catalog_type_preference,
                                        token_setup, token_teardown),
        cmocka_unit_test_setup_teardown(test_catalog_regions_list, token_setup,
                                        token_teardown),
        cmocka_unit_test(test_keystone_auth_check_names_missing),
        cmocka_unit_test(test_cinder_parses_volume_in_use),
        cmocka_unit_test(test_cinder_parses_migrated_volume),
        cmocka_unit_test(test_cinder_rejects_volume_without_status),
        cmocka_unit_test(test_cinder_parses_volume_list),
        cmocka_unit_test(test_cinder_status_classes),
        cmocka_unit_test(test_cinder_parses_manageable),
        cmocka_unit_test(test_cinder_parses_pools),
        cmocka_unit_test(test_cinder_limits_and_quota_check),
        cmocka_unit_test(test_cinder_parses_types),
        cmocka_unit_test(test_nova_parses_server),
        cmocka_unit_test(test_nova_busy_and_error_servers_cannot_attach),
        cmocka_unit_test(test_nova_parses_attachments),
        cmocka_unit_test(test_http_extracts_service_messages),
        cmocka_unit_test(test_http_helpers),
        cmocka_unit_test(test_recorded_token_and_catalog),
        cmocka_unit_test(test_recorded_volume_admin_and_member_views),
        cmocka_unit_test(test_recorded_server_and_attachments),
        cmocka_unit_test(test_recorded_backend_quota_types),
        cmocka_unit_test(test_recorded_error_bodies),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
