/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_openstack_service.c: service_parse_array, the loop that
 * every Cinder and Nova list parser shares (openstack/service.c).
 *
 * The helper works on jansson values, which stay inside openstack/, so it
 * is driven through the pure list parsers of cinder.h and nova.h with
 * small answers written here: one test per behaviour of the helper, each
 * seen through a different parser. Leaks on the failure paths show under
 * RBDMOVE_SANITIZE. The request path needs a Keystone session and is
 * covered by the integration tests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "openstack/cinder.h"
#include "openstack/nova.h"

#define UUID_A "11111111-1111-4111-8111-111111111111"
#define UUID_B "22222222-2222-4222-8222-222222222222"
#define UUID_C "33333333-3333-4333-8333-333333333333"

static void
test_service_array_missing_member_names_service_and_key(void **state)
{
    struct nova_attachment *atts = (void *)1;
    struct error err = ERROR_INIT;
    const char *body = "{\"volumeAttachment\": []}";
    size_t n = 99;

    (void)state;
    assert_int_equal(
        nova_attachments_parse(body, strlen(body), &atts, &n, &err), -1);

    assert_int_equal(err.kind, ERROR_PROTOCOL);
    assert_string_equal(err.msg, "unexpected Nova answer: no "
                                 "\"volumeAttachments\" array");
    assert_null(atts);
    assert_int_equal(n, 0);
}

static void test_service_array_member_not_an_array(void **state)
{
    struct cinder_volume *vols = (void *)1;
    struct error err = ERROR_INIT;
    const char *body = "{\"volumes\": {\"id\": \"" UUID_A "\"}}";
    char *next = (void *)1;
    size_t n = 99;

    (void)state;
    assert_int_equal(
        cinder_volume_list_parse(body, strlen(body), &vols, &n, &next, &err),
        -1);

    assert_int_equal(err.kind, ERROR_PROTOCOL);
    assert_string_equal(err.msg,
                        "unexpected Cinder answer: no \"volumes\" array");
    assert_null(vols);
    assert_int_equal(n, 0);
    assert_null(next);
}

static void test_service_array_empty_gives_zeroed_sentinel(void **state)
{
    struct cinder_volume_type *types = NULL;
    struct error err = ERROR_INIT;
    const char *body = "{\"volume_types\": []}";
    size_t n = 99;

    (void)state;
    assert_int_equal(cinder_types_parse(body, strlen(body), &types, &n, &err),
                     0);

    assert_int_equal(n, 0);
    assert_non_null(types);
    assert_null(types[0].id);
    assert_null(types[0].name);
    cinder_types_free(types, n);
}

static void test_service_array_keeps_order(void **state)
{
    struct nova_server *servers = NULL;
    struct error err = ERROR_INIT;
    const char *body = "{\"servers\": ["
                       "{\"id\": \"" UUID_C "\", \"status\": \"ACTIVE\", "
                       "\"name\": \"c\"},"
                       "{\"id\": \"" UUID_A "\", \"status\": \"SHUTOFF\"},"
                       "{\"id\": \"" UUID_B "\", \"status\": \"ACTIVE\", "
                       "\"name\": \"b\"}]}";
    size_t n = 0;

    (void)state;
    assert_int_equal(
        nova_server_list_parse(body, strlen(body), &servers, &n, &err), 0);

    assert_int_equal(n, 3);
    assert_string_equal(servers[0].id, UUID_C);
    assert_string_equal(servers[0].name, "c");
    assert_string_equal(servers[1].id, UUID_A);
    assert_null(servers[1].name);
    assert_string_equal(servers[1].status, "SHUTOFF");
    assert_string_equal(servers[2].id, UUID_B);
    assert_string_equal(servers[3].id, ""); /* the zeroed element after */
    for (size_t i = 0; i < n; i++)
        nova_server_release(&servers[i]);
    free(servers);
}

/* The first two volumes are parsed, and owned, when the third fails:
 * they must be released (ASan's leak check sees it) and nothing returned. */
static void test_service_array_bad_element_fails_the_list(void **state)
{
    struct cinder_volume *vols = (void *)1;
    struct error err = ERROR_INIT;
    const char *body =
        "{\"volumes\": ["
        "{\"id\": \"" UUID_A "\", \"status\": \"available\", \"size\": 1, "
        "\"name\": \"a\", \"metadata\": {\"k\": \"v\"}},"
        "{\"id\": \"" UUID_B "\", \"status\": \"in-use\", \"size\": 2, "
        "\"attachments\": [{\"id\": \"x\", \"server_id\": \"s\"}]},"
        "{\"id\": \"" UUID_C "\", \"size\": 3}],"
        "\"volumes_links\": [{\"rel\": \"next\", "
        "\"href\": \"http://c/v3/p/volumes/detail?marker=" UUID_C "\"}]}";
    char *next = (void *)1;
    size_t n = 99;

    (void)state;
    assert_int_equal(
        cinder_volume_list_parse(body, strlen(body), &vols, &n, &next, &err),
        -1);

    assert_int_equal(err.kind, ERROR_PROTOCOL);
    assert_non_null(strstr(err.msg, "unexpected Cinder volume: "));
    assert_non_null(strstr(err.msg, "status"));
    assert_null(vols);
    assert_int_equal(n, 0);
    assert_null(next);
}

static void test_service_array_bad_attachment_fails_the_list(void **state)
{
    struct nova_attachment *atts = (void *)1;
    struct error err = ERROR_INIT;
    const char *body = "{\"volumeAttachments\": ["
                       "{\"volumeId\": \"" UUID_A "\", \"serverId\": \"" UUID_B
                       "\", \"device\": \"/dev/vdb\"},"
                       "{\"volumeId\": \"" UUID_C "\"}]}";
    size_t n = 99;

    (void)state;
    assert_int_equal(
        nova_attachments_parse(body, strlen(body), &atts, &n, &err), -1);

    assert_int_equal(err.kind, ERROR_PROTOCOL);
    assert_string_equal(err.msg,
                        "unexpected Nova answer: bad serverId '(none)'");
    assert_null(atts);
    assert_int_equal(n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_service_array_missing_member_names_service_and_key),
        cmocka_unit_test(test_service_array_member_not_an_array),
        cmocka_unit_test(test_service_array_empty_gives_zeroed_sentinel),
        cmocka_unit_test(test_service_array_keeps_order),
        cmocka_unit_test(test_service_array_bad_element_fails_the_list),
        cmocka_unit_test(test_service_array_bad_attachment_fails_the_list),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
