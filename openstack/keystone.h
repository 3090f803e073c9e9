/* SPDX-License-Identifier: MIT */
/*
 * openstack/keystone.h: Keystone v3 authentication and the service catalog.
 *
 * A struct keystone is one authenticated session with one cloud in one
 * region: it holds the token, the catalog and the HTTP client that every
 * service module (cinder.c, nova.c) sends its requests through, so that an
 * expired token is renewed in one place. The secrets (password,
 * application credential secret, token) live here and are wiped with
 * explicit_bzero when they are freed; they never appear in errors or logs.
 */
#ifndef OPENSTACK_KEYSTONE_H
#define OPENSTACK_KEYSTONE_H

#include <stdbool.h>
#include <stddef.h>

#include "openstack/http.h"
#include "rbdmove/base/error.h"

enum keystone_auth_type {
    KEYSTONE_AUTH_AUTO = 0, /* from the fields that are set */
    KEYSTONE_AUTH_PASSWORD,
    KEYSTONE_AUTH_APPLICATION_CREDENTIAL,
    KEYSTONE_AUTH_TOKEN,
};

/*
 * What to authenticate with, as clouds.yaml's "auth:" section or the OS_*
 * variables give it. Plain data: every field is an owned string or NULL.
 * Release with keystone_auth_release, which wipes the secrets.
 */
struct keystone_auth {
    enum keystone_auth_type type;
    char *auth_url;
    char *username;
    char *user_id;
    char *user_domain_name;
    char *user_domain_id;
    char *project_name;
    char *project_id;
    char *project_domain_name;
    char *project_domain_id;
    char *application_credential_id;
    char *application_credential_name;
    char *password;                      /* secret */
    char *application_credential_secret; /* secret */
    char *token;                         /* secret */
};

/* Frees every field, wiping the secrets first; *a is zeroed. NULL-safe. */
void keystone_auth_release(struct keystone_auth *a);

/* Replace *field with a copy of value (NULL clears it), wiping the old
 * value: the one way to set a field that may hold a secret. */
void keystone_auth_set(char **field, const char *value);

/* The type that type AUTO resolves to for these fields. */
enum keystone_auth_type keystone_auth_resolve(const struct keystone_auth *a);

/* "password", "v3applicationcredential", "token". */
const char *keystone_auth_type_name(enum keystone_auth_type type);

/*
 * Check that the fields are enough for their type (auth URL, a user for a
 * password, a project to scope to, ...). ERROR_USAGE naming the missing
 * setting and where it can be given.
 */
int keystone_auth_check(const struct keystone_auth *a,
                        struct error *err) MUST_CHECK;

/* One catalog entry: a service endpoint. */
struct keystone_endpoint {
    char *type;      /* service type: "volumev3", "compute", ... */
    char *interface; /* "public", "internal", "admin" */
    char *region;    /* region id, or NULL */
    char *url;
};

struct keystone_catalog {
    struct keystone_endpoint *endpoints;
    size_t n;
};

/* What a token response says, besides the token itself. */
struct keystone_token_info {
    char *user_id;
    char *user_name;
    char *project_id;
    char *project_name;
    double expires_at; /* seconds since the epoch; 0 when absent */
    char **roles;      /* role names */
    size_t n_roles;
    struct keystone_catalog catalog;
};

/*
 * Parse the body of POST /v3/auth/tokens ({"token": {...}}). On success
 * *out holds owned copies; on failure it is left empty and err is
 * ERROR_PROTOCOL. Pure.
 */
int keystone_token_parse(const char *body, size_t len,
                         struct keystone_token_info *out,
                         struct error *err) MUST_CHECK;

/* NULL-safe; leaves *info zeroed. */
void keystone_token_info_release(struct keystone_token_info *info);

/* "2015-08-27T09:49:58.000000Z" (or "+00:00" form) to seconds since the
 * epoch; -1 when malformed. */
int keystone_time_parse(const char *s, double *out) MUST_CHECK;

/*
 * Find the URL of a service: the first of types (in order of preference)
 * that has an endpoint with this interface ("public" when NULL;
 * "publicURL" is accepted) in region. With region NULL the service must be
 * offered in a single region, otherwise the choice is ambiguous. *url is
 * borrowed from cat. Errors: ERROR_USAGE for a region the catalog does
 * not know or an ambiguous choice, ERROR_API (cause 0) when the service
 * is missing, naming what the catalog has instead. Pure.
 */
int keystone_catalog_find(const struct keystone_catalog *cat,
                          const char *const *types, const char *region,
                          const char *interface, const char **url,
                          struct error *err) MUST_CHECK;

/* Appends the distinct regions of the catalog, sorted, comma separated. */
void keystone_catalog_regions(const struct keystone_catalog *cat,
                              struct buf *out);

struct keystone;

/*
 * Authenticate with auth (copied) against its auth URL, and keep the
 * session for region (NULL: none given) and interface (NULL: public).
 * http is copied; NULL means the defaults. When region is given it must
 * appear in the catalog. The caller owns *out. Errors: ERROR_USAGE for
 * incomplete settings or an unknown region, ERROR_HTTP when Keystone
 * cannot be reached, ERROR_API (401 for bad credentials) when it refuses.
 */
int keystone_open(const struct keystone_auth *auth, const char *region,
                  const char *interface, const struct http_options *http,
                  struct keystone **out, struct error *err) MUST_CHECK;

/* Wipes the secrets and frees everything. NULL-safe. */
void keystone_close(struct keystone *ks);

/* Borrowed, valid while ks lives (until the next re-authentication for
 * the info). */
const char *keystone_project_id(const struct keystone *ks);
const char *keystone_region(const struct keystone *ks);
const struct keystone_token_info *keystone_info(const struct keystone *ks);

/* True when the token carries the role (case-insensitive). */
bool keystone_has_role(const struct keystone *ks, const char *role);

/*
 * An owned copy of the URL of a service of one of types in the session's
 * region and interface (see keystone_catalog_find), with a trailing '/'
 * removed.
 */
int keystone_endpoint_dup(struct keystone *ks, const char *const *types,
                          char **url, struct error *err) MUST_CHECK;

/*
 * Send req (its token field is ignored) with the session's token. A token
 * about to expire is renewed first; a 401 answer renews it and repeats the
 * request once. Same contract as http_send otherwise.
 */
int keystone_request(struct keystone *ks, const struct http_request *req,
                     struct http_response *resp, struct error *err) MUST_CHECK;

/* Authenticate again now (a new token and catalog). */
int keystone_reauthenticate(struct keystone *ks, struct error *err) MUST_CHECK;

#endif
