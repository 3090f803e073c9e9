/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_openstack_config.c: clouds.yaml + secure.yaml merging,
 * OS_* overrides and command-line overrides, as openstackclient applies
 * them. The files are tests/data/openstack/{clouds,secure,broken}.yaml.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "openstack/config.h"

#define DATA TEST_DATA_DIR "/openstack/"

static const char *const clouds[] = {DATA "clouds.yaml", NULL};
static const char *const secure[] = {DATA "secure.yaml", NULL};
static const char *const no_secure[] = {DATA "no-such-secure.yaml", NULL};
static const char *const broken[] = {DATA "broken.yaml", NULL};
static const char *const nowhere[] = {DATA "no-such-clouds.yaml", NULL};

static void clear_env(void)
{
    extern char **environ;
    char **copy;
    size_t n = 0;

    while (environ[n])
        n++;
    copy = calloc(n + 1, sizeof(*copy));
    for (size_t i = 0; i < n; i++)
        copy[i] = strdup(environ[i]);
    for (size_t i = 0; i < n; i++) {
        char *eq = strchr(copy[i], '=');

        if (!strncmp(copy[i], "OS_", 3) && eq) {
            *eq = '\0';
            unsetenv(copy[i]);
        }
        free(copy[i]);
    }
    free(copy);
}

static int setup(void **state)
{
    (void)state;
    clear_env();
    return 0;
}

static struct config_args files_args(const char *cloud)
{
    struct config_args a;

    memset(&a, 0, sizeof(a));
    a.cloud = cloud;
    a.use_env = true;
    a.config_files = clouds;
    a.secure_files = secure;
    return a;
}

static void test_config_merges_secure_yaml(void **state)
{
    struct config_args a = files_args("lab");
    struct config_cloud c;
    struct error err = ERROR_INIT;

    (void)state;
    assert_int_equal(config_cloud_load(&a, &c, &err), 0);
    assert_string_equal(c.name, "lab");
    assert_string_equal(c.source, DATA "clouds.yaml");
    assert_string_equal(c.auth.auth_url, "http://127.0.0.1:15000/v3");
    assert_string_equal(c.auth.username, "demo");
    /* secure.yaml wins over clouds.yaml */
    assert_string_equal(c.auth.password, "from-secure-yaml");
    assert_string_equal(c.auth.project_name, "demo");
    assert_string_equal(c.auth.user_domain_name, "Default");
    assert_string_equal(c.auth.project_domain_name, "Default");
    assert_string_equal(c.region, "RegionOne");
    assert_string_equal(c.interface, "public");
    assert_false(c.insecure);
    assert_null(c.cacert);
    assert_int_equal(keystone_auth_resolve(&c.auth), KEYSTONE_AUTH_PASSWORD);
    config_cloud_release(&c);
    assert_null(c.name);
}

static void test_config_without_secure_yaml(void **state)
{
    struct config_args a = files_args("lab");
    struct config_cloud c;
    struct error err = ERROR_INIT;

    (void)state;
    a.secure_files = no_secure;
    assert_int_equal(config_cloud_load(&a, &c, &err), 0);
    assert_string_equal(c.auth.password, "from-clouds-yaml");
    config_cloud_release(&c);
}

static void test_config_env_overrides_yaml(void **state)
{
    struct config_args a = files_args("lab");
    struct config_cloud c;
    struct error err = ERROR_INIT;

    (void)state;
    setenv("OS_PASSWORD", "from-env", 1);
    setenv("OS_REGION_NAME", "RegionTwo", 1);
    setenv("OS_INTERFACE", "internal", 1);
    setenv("OS_USERNAME", "", 1); /* empty means unset */
    setenv("OS_INSECURE", "true", 1);
    setenv("OS_CACERT", "/tmp/ca.pem", 1);
    assert_int_equal(config_cloud_load(&a, &c, &err), 0);
    assert_string_equal(c.auth.password, "from-env");
    assert_string_equal(c.auth.username, "demo");
    assert_string_equal(c.region, "RegionTwo");
    assert_string_equal(c.interface, "internal");
    assert_true(c.insecure);
    assert_string_equal(c.cacert, "/tmp/ca.pem");
    config_cloud_release(&c);
}

static void test_config_args_override_env(void **state)
{
    struct config_args a = files_args("lab");
    struct config_cloud c;
    struct error err = ERROR_INIT;

    (void)state;
    setenv("OS_REGION_NAME", "RegionTwo", 1);
    a.region = "RegionThree";
    a.cacert = "/etc/ca.pem";
    a.interface = "admin";
    assert_int_equal(config_cloud_load(&a, &c, &err), 0);
    assert_string_equal(c.region, "RegionThree");
    assert_string_equal(c.cacert, "/etc/ca.pem");
    assert_string_equal(c.interface, "admin");
    config_cloud_release(&c);
}

static void test_config_cloud_from_os_cloud(void **state)
{
    struct config_args a = files_args(NULL);
    struct config_cloud c;
    struct error err = ERROR_INIT;

    (void)state;
    setenv("OS_CLOUD", "lab", 1);
    assert_int_equal(config_cloud_load(&a, &c, &err), 0);
    assert_string_equal(c.name, "lab");
    config_cloud_release(&c);
}

static void test_config_env_only(void **state)
{
    struct config_args a = files_args(NULL);
    struct config_cloud c;
    struct error err = ERROR_INIT;

    (void)state;
    a.config_files = nowhere;
    setenv("OS_AUTH_URL", "http://127.0.0.1:15000/v3", 1);
    setenv("OS_USERNAME", "admin", 1);
    setenv("OS_PASSWORD", "pw", 1);
    setenv("OS_PROJECT_NAME", "admin", 1);
    setenv("OS_USER_DOMAIN_NAME", "Default", 1);
    setenv("OS_PROJECT_DOMAIN_ID", "default", 1);
    setenv("OS_REGION_NAME", "RegionTwo", 1);
    assert_int_equal(config_cloud_load(&a, &c, &err), 0);
    assert_string_equal(c.name, "envvars");
    assert_string_equal(c.source, "environment");
    assert_string_equal(c.auth.username, "admin");
    assert_string_equal(c.auth.project_domain_id, "default");
    assert_string_equal(c.region, "RegionTwo");
    assert_string_equal(c.interface, "public");
    config_cloud_release(&c);
}

static void test_config_use_env_false_ignores_variables(void **state)
{
    struct config_args a = files_args("lab");
    struct config_cloud c;
    struct error err = ERROR_INIT;

    (void)state;
    a.use_env = false;
    setenv("OS_PASSWORD", "for-another-cloud", 1);
    setenv("OS_REGION_NAME", "RegionTwo", 1);
    assert_int_equal(config_cloud_load(&a, &c, &err), 0);
    assert_string_equal(c.auth.password, "from-secure-yaml");
    assert_string_equal(c.region, "RegionOne");
    config_cloud_release(&c);
    /* Nor does OS_CLOUD name the cloud then. */
    setenv("OS_CLOUD", "lab", 1);
    a.cloud = NULL;
    assert_int_equal(config_cloud_load(&a, &c, &err), -1);
    assert_int_equal(err.kind, ERROR_USAGE);
    assert_non_null(strstr(err.msg, "no cloud given"));
}

static void test_config_nothing_given(void **state)
{
    struct config_args a = files_args(NULL);
    struct config_cloud c;
    struct error err = ERROR_INIT;

    (void)state;
    assert_int_equal(config_cloud_load(&a, &c, &err), -1);
    assert_int_equal(err.kind, ERROR_USAGE);
    assert_non_null(strstr(err.msg, "--os-cloud"));
}

static void test_config_unknown_cloud_lists_known(void **state)
{
    struct config_args a = files_args("nope");
    struct config_cloud c;
    struct error err = ERROR_INIT;

    (void)state;
    assert_int_equal(config_cloud_load(&a, &c, &err), -1);
    assert_int_equal(err.kind, ERROR_USAGE);
    assert_non_null(strstr(err.msg, "cloud 'nope' not found"));
    assert_non_null(strstr(err.msg, "lab, lab-appcred, lab-dashes"));
    assert_null(c.name);
}

static void test_config_missing_clouds_yaml(void **state)
{
    struct config_args a = files_args("lab");
    struct config_cloud c;
    struct error err = ERROR_INIT;

    (void)state;
    a.config_files = nowhere;
    a.secure_files = no_secure;
    assert_int_equal(config_cloud_load(&a, &c, &err), -1);
    assert_int_equal(err.kind, ERROR_USAGE);
    assert_non_null(strstr(err.msg, "no clouds.yaml found"));
    assert_non_null(strstr(err.msg, "no-such-clouds.yaml"));
}

static void test_config_application_credential_regions(void **state)
{
    struct config_args a = files_args("lab-appcred");
    struct config_cloud c;
    struct error err = ERROR_INIT;

    (void)state;
    assert_int_equal(config_cloud_load(&a, &c, &err), 0);
    assert_int_equal(keystone_auth_resolve(&c.auth),
                     KEYSTONE_AUTH_APPLICATION_CREDENTIAL);
    assert_string_equal(c.auth.application_credential_id,
                        "0123456789abcdef0123456789abcdef");
    assert_string_equal(c.auth.application_credential_secret, "s3cr3t");
    /* No region_name: the first of regions. */
    assert_string_equal(c.region, "RegionOne");
    config_cloud_release(&c);

    a.region = "RegionTwo"; /* listed as {name: RegionTwo} */
    assert_int_equal(config_cloud_load(&a, &c, &err), 0);
    assert_string_equal(c.region, "RegionTwo");
    config_cloud_release(&c);

    a.region = "RegionNine";
    assert_int_equal(config_cloud_load(&a, &c, &err), -1);
    assert_int_equal(err.kind, ERROR_USAGE);
    assert_non_null(strstr(err.msg, "region 'RegionNine' is not a region of "
                                    "cloud 'lab-appcred' (regions: "
                                    "RegionOne, RegionTwo)"));
}

static void test_config_dashes_default_domain_and_verify(void **state)
{
    struct config_args a = files_args("lab-dashes");
    struct config_cloud c;
    struct error err = ERROR_INIT;

    (void)state;
    assert_int_equal(config_cloud_load(&a, &c, &err), 0);
    assert_string_equal(c.auth.auth_url,
                        "https://keystone.example.test:5000/v3");
    assert_string_equal(c.auth.project_id, "a6944d763bf64ee6a275f1263fae0352");
    assert_string_equal(c.auth.user_domain_id, "default");
    assert_string_equal(c.auth.project_domain_id, "default");
    assert_string_equal(c.auth.password, "p@ss: with colon");
    assert_true(c.insecure);
    assert_string_equal(c.cacert, "/etc/ssl/certs/ca-certificates.crt");
    assert_null(c.region);
    config_cloud_release(&c);
}

static void test_config_rejects_unsupported_auth_type(void **state)
{
    struct config_args a = files_args("bad-auth-type");
    struct config_cloud c;
    struct error err = ERROR_INIT;

    (void)state;
    assert_int_equal(config_cloud_load(&a, &c, &err), -1);
    assert_int_equal(err.kind, ERROR_USAGE);
    assert_non_null(strstr(err.msg, "auth type 'v3oidcpassword'"));
}

static void test_config_reports_broken_yaml(void **state)
{
    struct config_args a = files_args("lab");
    struct config_cloud c;
    struct error err = ERROR_INIT;

    (void)state;
    a.config_files = broken;
    a.secure_files = no_secure;
    assert_int_equal(config_cloud_load(&a, &c, &err), -1);
    assert_int_equal(err.kind, ERROR_USAGE);
    assert_non_null(strstr(err.msg, "cannot parse"));
    assert_non_null(strstr(err.msg, "broken.yaml"));
}

static void test_config_missing_password_names_variable(void **state)
{
    struct config_args a = files_args("lab-appcred");
    struct config_cloud c;
    struct error err = ERROR_INIT;

    (void)state;
    a.secure_files = no_secure;
    assert_int_equal(config_cloud_load(&a, &c, &err), -1);
    assert_int_equal(err.kind, ERROR_USAGE);
    assert_non_null(strstr(err.msg, "cloud 'lab-appcred': no application "
                                    "credential secret given: set "
                                    "OS_APPLICATION_CREDENTIAL_SECRET"));
}

static void test_config_usual_places_via_env(void **state)
{
    struct config_args a;
    struct config_cloud c;
    struct error err = ERROR_INIT;

    (void)state;
    memset(&a, 0, sizeof(a));
    a.use_env = true;
    setenv("OS_CLIENT_CONFIG_FILE", DATA "clouds.yaml", 1);
    setenv("OS_CLIENT_SECURE_FILE", DATA "secure.yaml", 1);
    setenv("OS_CLOUD", "lab", 1);
    assert_int_equal(config_cloud_load(&a, &c, &err), 0);
    assert_string_equal(c.source, DATA "clouds.yaml");
    assert_string_equal(c.auth.password, "from-secure-yaml");
    config_cloud_release(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_config_merges_secure_yaml, setup),
        cmocka_unit_test_setup(test_config_without_secure_yaml, setup),
        cmocka_unit_test_setup(test_config_env_overrides_yaml, setup),
        cmocka_unit_test_setup(test_config_args_override_env, setup),
        cmocka_unit_test_setup(test_config_cloud_from_os_cloud, setup),
        cmocka_unit_test_setup(test_config_env_only, setup),
        cmocka_unit_test_setup(test_config_use_env_false_ignores_variables,
                               setup),
        cmocka_unit_test_setup(test_config_nothing_given, setup),
        cmocka_unit_test_setup(test_config_unknown_cloud_lists_known, setup),
        cmocka_unit_test_setup(test_config_missing_clouds_yaml, setup),
        cmocka_unit_test_setup(test_config_application_credential_regions,
                               setup),
        cmocka_unit_test_setup(test_config_dashes_default_domain_and_verify,
                               setup),
        cmocka_unit_test_setup(test_config_rejects_unsupported_auth_type,
                               setup),
        cmocka_unit_test_setup(test_config_reports_broken_yaml, setup),
        cmocka_unit_test_setup(test_config_missing_password_names_variable,
                               setup),
        cmocka_unit_test_setup(test_config_usual_places_via_env, setup),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
