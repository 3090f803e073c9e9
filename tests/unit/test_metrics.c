/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_metrics.c: sync --metrics-file. A success writes every
 * metric; a failure says so and keeps the last success and the recovery
 * point of the file it replaces; a label value is escaped; the file is
 * replaced whole.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "rbdmove/cli/metrics.h"

static void test_metrics_success(void **state)
{
    struct sync_metrics m = {"data-1", 1000, 1012.5, 0, 4096, 1010, 1};
    char *t = metrics_format(&m, NULL);

    (void)state;
    assert_non_null(strstr(t, "# TYPE rbdmove_sync_last_attempt_timestamp_"
                              "seconds gauge\n"));
    assert_non_null(strstr(
        t, "rbdmove_sync_last_attempt_timestamp_seconds{volume=\"data-1\"} "
           "1000\n"));
    assert_non_null(
        strstr(t, "rbdmove_sync_last_attempt_success{volume=\"data-1\"} 1\n"));
    assert_non_null(
        strstr(t, "rbdmove_sync_last_bytes{volume=\"data-1\"} 4096\n"));
    assert_non_null(strstr(
        t, "rbdmove_sync_last_duration_seconds{volume=\"data-1\"} 12.5\n"));
    assert_non_null(strstr(
        t, "rbdmove_sync_last_success_timestamp_seconds{volume=\"data-1\"} "
           "1012.5\n"));
    assert_non_null(
        strstr(t, "rbdmove_sync_recovery_points{volume=\"data-1\"} 1\n"));
    assert_non_null(
        strstr(t, "rbdmove_sync_recovery_point_age_seconds{volume=\"data-1\"} "
                  "2.5\n"));
    free(t);
}

static void test_metrics_failure_keeps_the_last_success(void **state)
{
    struct sync_metrics ok = {"data-1", 1000, 1012, 0, 4096, 1010, 3};
    struct sync_metrics bad = {"data-1", 2000, 2001, 1, 0, -1, -1};
    struct sync_metrics never = {"data-2", 2000, 2001, 4, 0, -1, -1};
    char *old = metrics_format(&ok, NULL);
    char *t = metrics_format(&bad, old);

    (void)state;
    assert_non_null(
        strstr(t, "rbdmove_sync_last_attempt_success{volume=\"data-1\"} 0\n"));
    assert_non_null(
        strstr(t, "rbdmove_sync_last_exit_status{volume=\"data-1\"} 1\n"));
    assert_non_null(strstr(
        t, "rbdmove_sync_last_success_timestamp_seconds{volume=\"data-1\"} "
           "1012\n"));
    assert_non_null(strstr(
        t, "rbdmove_sync_recovery_point_timestamp_seconds{volume=\"data-1\"} "
           "1010\n"));
    assert_non_null(
        strstr(t, "rbdmove_sync_recovery_point_age_seconds{volume=\"data-1\"} "
                  "991\n"));
    free(t);
    /* Never succeeded: no success time, no point. */
    t = metrics_format(&never, NULL);
    assert_null(strstr(t, "last_success_timestamp"));
    assert_null(strstr(t, "recovery_point_timestamp"));
    assert_non_null(
        strstr(t, "rbdmove_sync_recovery_points{volume=\"data-2\"} 0\n"));
    free(t);
    free(old);
}

static void test_metrics_label_is_escaped(void **state)
{
    struct sync_metrics m = {"a\"b\\c\nd", 1, 2, 0, 0, 1, 1};
    char *t = metrics_format(&m, NULL);

    (void)state;
    assert_non_null(strstr(t, "{volume=\"a\\\"b\\\\c\\nd\"} "));
    free(t);
}

static void test_metrics_write_replaces_the_file(void **state)
{
    char dir[] = "/tmp/rbm-metrics-XXXXXX";
    struct sync_metrics ok = {"v", 1000, 1012, 0, 1, 1010, 1};
    struct sync_metrics bad = {"v", 2000, 2001, 1, 0, -1, -1};
    struct error err = ERROR_INIT;
    char path[64], text[4096];
    struct stat st;
    FILE *f;
    size_t n;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/m.prom", dir);
    assert_int_equal(metrics_write(path, &ok, &err), 0);
    assert_int_equal(metrics_write(path, &bad, &err), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    f = fopen(path, "r");
    assert_non_null(f);
    n = fread(text, 1, sizeof(text) - 1, f);
    text[n] = '\0';
    fclose(f);
    assert_non_null(strstr(
        text, "rbdmove_sync_last_success_timestamp_seconds{volume=\"v\"} "
              "1012\n"));
    assert_non_null(
        strstr(text, "rbdmove_sync_last_attempt_success{volume=\"v\"} 0\n"));
    /* Nothing left beside it. */
    snprintf(path, sizeof(path), "%s/m.prom.tmp.%ld", dir, (long)getpid());
    assert_int_not_equal(access(path, F_OK), 0);
    /* A directory that is not there: an error, not a crash. */
    snprintf(path, sizeof(path), "%s/none/m.prom", dir);
    assert_int_equal(metrics_write(path, &ok, &err), -1);
    assert_int_equal(err.kind, ERROR_IO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_success),
        cmocka_unit_test(test_metrics_failure_keeps_the_last_success),
        cmocka_unit_test(test_metrics_label_is_escaped),
        cmocka_unit_test(test_metrics_write_replaces_the_file),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
