/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_plan.c: the checks `rbdmove plan` makes on a source
 * volume by itself (plan_check_volume), fed with recorded Cinder answers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rbdmove/core/plan.h"
#include "rbdmove/base/xalloc.h"

static void load_volume(const char *name, struct cinder_volume *v)
{
    char *path = xasprintf(TEST_DATA_DIR "/openstack/%s", name);
    struct error err = ERROR_INIT;
    FILE *f = fopen(path, "rb");
    char buf[8192];
    size_t n;

    assert_non_null(f);
    n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    free(path);
    assert_int_equal(cinder_volume_parse(buf, n, v, &err), 0);
}

static struct plan *empty_plan(void)
{
    return xcalloc(1, sizeof(struct plan));
}

static const char *note_text(const struct plan *p, enum plan_severity s,
                             const char *needle)
{
    for (size_t i = 0; i < p->n_notes; i++) {
        if (p->notes[i].severity == s && strstr(p->notes[i].text, needle))
            return p->notes[i].text;
    }
    return NULL;
}

static void test_plan_accepts_volume_in_use(void **state)
{
    struct cinder_volume v;
    struct plan *p = empty_plan();

    (void)state;
    load_volume("volume_in_use.json", &v);
    plan_check_volume(p, &v);
    assert_true(plan_ok(p));
    /* Its rbdmove.moved_from metadata is worth a warning only. */
    assert_int_equal(plan_count(p, PLAN_WARNING), 1);
    assert_non_null(
        note_text(p, PLAN_WARNING, "rbdmove.moved_from=RegionZero"));
    cinder_volume_release(&v);
    plan_free(p);
}

static void test_plan_refuses_states_that_cannot_move(void **state)
{
    static const char *const bad[] = {
        "error",    "error_deleting", "creating",  "detaching",
        "reserved", "maintenance",    "weird-new", NULL};
    struct cinder_volume v;

    (void)state;
    load_volume("volume_in_use.json", &v);
    for (int i = 0; bad[i]; i++) {
        struct plan *p = empty_plan();

        free(v.status);
        v.status = xstrdup(bad[i]);
        plan_check_volume(p, &v);
        assert_false(plan_ok(p));
        assert_non_null(note_text(p, PLAN_PROBLEM, bad[i]));
        assert_string_equal(p->notes[0].side, "source");
        plan_free(p);
    }
    cinder_volume_release(&v);
}

static void test_plan_refuses_encrypted_multiattached_boot_disk(void **state)
{
    struct cinder_volume v;
    struct plan *p = empty_plan();

    (void)state;
    load_volume("volume_in_use.json", &v);
    v.encrypted = true;
    v.bootable = true;
    free(v.attachments[0].device);
    v.attachments[0].device = xstrdup("/dev/vda");
    free(v.migration_status);
    v.migration_status = xstrdup("migrating");
    plan_check_volume(p, &v);
    assert_int_equal(plan_count(p, PLAN_PROBLEM), 3);
    assert_non_null(note_text(p, PLAN_PROBLEM, "encrypted"));
    assert_non_null(note_text(p, PLAN_PROBLEM, "boot disk (/dev/vda)"));
    assert_non_null(note_text(p, PLAN_PROBLEM, "being migrated"));
    cinder_volume_release(&v);
    plan_free(p);
}

static void test_plan_refuses_multiattach(void **state)
{
    struct cinder_volume v;
    struct plan *p = empty_plan();

    (void)state;
    load_volume("volume_in_use.json", &v);
    v.n_attachments = 2;
    v.attachments = xrealloc(v.attachments, 2 * sizeof(*v.attachments));
    memset(&v.attachments[1], 0, sizeof(v.attachments[1]));
    v.attachments[1].server_id =
        xstrdup("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d");
    plan_check_volume(p, &v);
    assert_non_null(note_text(p, PLAN_PROBLEM, "attached to 2 servers"));
    cinder_volume_release(&v);
    plan_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_accepts_volume_in_use),
        cmocka_unit_test(test_plan_refuses_states_that_cannot_move),
        cmocka_unit_test(test_plan_refuses_encrypted_multiattached_boot_disk),
        cmocka_unit_test(test_plan_refuses_multiattach),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
