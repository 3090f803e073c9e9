/* SPDX-License-Identifier: MIT */
/*
 * openstack/keystone.c: Keystone v3 tokens, the catalog, and the session
 * every service request goes through.
 *
 * This is the one place that holds OpenStack secrets: the password, the
 * application credential secret and the token. Each copy is wiped with
 * explicit_bzero before it is freed, including the JSON text of the
 * authentication request and jansson's copy of the secret inside it.
 * Talks to http.c only; knows nothing about Cinder or Nova.
 */
#include "openstack/keystone.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "rbdmove/base/json.h"
#include "rbdmove/base/log.h"
#include "rbdmove/base/strutil.h"
#include "rbdmove/base/xalloc.h"

/* Renew a token this long before Keystone says it expires. */
#define EXPIRY_MARGIN 120.0

struct keystone {
    struct http_client *http;
    struct keystone_auth auth;
    char *region;
    char *interface;
    char *tokens_url;
    char *token; /* secret */
    struct keystone_token_info info;
};

void keystone_auth_set(char **field, const char *value)
{
    freezero_str(*field);
    *field = xstrdup(value);
}

void keystone_auth_release(struct keystone_auth *a)
{
    if (!a)
        return;
    free(a->auth_url);
    free(a->username);
    free(a->user_id);
    free(a->user_domain_name);
    free(a->user_domain_id);
    free(a->project_name);
    free(a->project_id);
    free(a->project_domain_name);
    free(a->project_domain_id);
    free(a->application_credential_id);
    free(a->application_credential_name);
    freezero_str(a->password);
    freezero_str(a->application_credential_secret);
    freezero_str(a->token);
    memset(a, 0, sizeof(*a));
}

static void auth_copy(struct keystone_auth *dst, const struct keystone_auth *a)
{
    dst->type = a->type;
    dst->auth_url = xstrdup(a->auth_url);
    dst->username = xstrdup(a->username);
    dst->user_id = xstrdup(a->user_id);
    dst->user_domain_name = xstrdup(a->user_domain_name);
    dst->user_domain_id = xstrdup(a->user_domain_id);
    dst->project_name = xstrdup(a->project_name);
    dst->project_id = xstrdup(a->project_id);
    dst->project_domain_name = xstrdup(a->project_domain_name);
    dst->project_domain_id = xstrdup(a->project_domain_id);
    dst->application_credential_id = xstrdup(a->application_credential_id);
    dst->application_credential_name = xstrdup(a->application_credential_name);
    dst->password = xstrdup(a->password);
    dst->application_credential_secret =
        xstrdup(a->application_credential_secret);
    dst->token = xstrdup(a->token);
}

enum keystone_auth_type keystone_auth_resolve(const struct keystone_auth *a)
{
    if (a->type != KEYSTONE_AUTH_AUTO)
        return a->type;
    if (a->application_credential_secret || a->application_credential_id)
        return KEYSTONE_AUTH_APPLICATION_CREDENTIAL;
    if (a->token && !a->password)
        return KEYSTONE_AUTH_TOKEN;
    return KEYSTONE_AUTH_PASSWORD;
}

const char *keystone_auth_type_name(enum keystone_auth_type type)
{
    switch (type) {
    case KEYSTONE_AUTH_APPLICATION_CREDENTIAL:
        return "v3applicationcredential";
    case KEYSTONE_AUTH_TOKEN:
        return "token";
    case KEYSTONE_AUTH_PASSWORD:
        return "password";
    default:
        return "auto";
    }
}

static int missing(struct error *err, const char *what, const char *env,
                   const char *key)
{
    return error_set(err, ERROR_USAGE, 0,
                     "no %s given: set %s or auth.%s in clouds.yaml", what, env,
                     key);
}

static bool has_user(const struct keystone_auth *a)
{
    return a->user_id ||
           (a->username && (a->user_domain_name || a->user_domain_id));
}

static int check_project(const struct keystone_auth *a, struct error *err)
{
    if (a->project_id)
        return 0;
    if (!a->project_name)
        return missing(err, "project", "OS_PROJECT_NAME", "project_name");
    if (!a->project_domain_name && !a->project_domain_id)
        return missing(err, "project domain", "OS_PROJECT_DOMAIN_NAME",
                       "project_domain_name");
    return 0;
}

int keystone_auth_check(const struct keystone_auth *a, struct error *err)
{
    if (!a->auth_url)
        return missing(err, "auth URL", "OS_AUTH_URL", "auth_url");
    switch (keystone_auth_resolve(a)) {
    case KEYSTONE_AUTH_APPLICATION_CREDENTIAL:
        if (!a->application_credential_secret)
            return missing(err, "application credential secret",
                           "OS_APPLICATION_CREDENTIAL_SECRET",
                           "application_credential_secret");
        if (a->application_credential_id)
            return 0;
        if (!a->application_credential_name)
            return missing(err, "application credential id or name",
                           "OS_APPLICATION_CREDENTIAL_ID",
                           "application_credential_id");
        if (!has_user(a))
            return missing(err,
                           "user (id, or name and domain) for the "
                           "application credential name",
                           "OS_USERNAME and OS_USER_DOMAIN_NAME", "username");
        return 0;
    case KEYSTONE_AUTH_TOKEN:
        if (!a->token)
            return missing(err, "token", "OS_TOKEN", "token");
        return check_project(a, err);
    default:
        if (!a->username && !a->user_id)
            return missing(err, "user name", "OS_USERNAME", "username");
        if (!has_user(a))
            return missing(err, "user domain", "OS_USER_DOMAIN_NAME",
                           "user_domain_name");
        if (!a->password)
            return missing(err, "password", "OS_PASSWORD", "password");
        return check_project(a, err);
    }
}

/* ---- token responses ---------------------------------------------- */

int keystone_time_parse(const char *s, double *out)
{
    struct tm tm;
    double frac = 0;
    const char *p;
    char *end = NULL;
    time_t t;

    memset(&tm, 0, sizeof(tm));
    if (!s)
        return -1;
    p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p)
        return -1;
    if (*p == '.') {
        frac = strtod(p, &end);
        p = end;
    }
    if (strcmp(p, "Z") != 0 && strcmp(p, "+00:00") != 0 && *p != '\0')
        return -1;
    t = timegm(&tm);
    if (t == (time_t)-1)
        return -1;
    *out = (double)t + frac;
    return 0;
}

static char *interface_normalize(const char *s)
{
    size_t len = strlen(s);

    /* The v2 catalog spelled them publicURL, internalURL, adminURL. */
    if (len > 3 && !strcmp(s + len - 3, "URL"))
        return xstrndup(s, len - 3);
    return xstrdup(s);
}

static void catalog_add(struct keystone_catalog *cat, const char *type,
                        json_t *ep)
{
    struct keystone_endpoint *e;
    const char *iface = json_string_value(json_object_get(ep, "interface"));
    const char *url = json_string_value(json_object_get(ep, "url"));
    char *region = http_json_strdup(ep, "region_id");

    if (!iface || !url) {
        free(region);
        return;
    }
    if (!region)
        region = http_json_strdup(ep, "region");
    cat->endpoints =
        xrealloc(cat->endpoints, (cat->n + 1) * sizeof(*cat->endpoints));
    e = &cat->endpoints[cat->n++];
    e->type = xstrdup(type);
    e->interface = interface_normalize(iface);
    e->region = region;
    e->url = xstrdup(url);
}

static void parse_catalog(json_t *services, struct keystone_catalog *cat)
{
    size_t i, j;
    json_t *svc, *ep;

    json_array_foreach(services, i, svc)
    {
        const char *type = json_string_value(json_object_get(svc, "type"));

        if (!type)
            continue;
        json_array_foreach(json_object_get(svc, "endpoints"), j, ep)
            catalog_add(cat, type, ep);
    }
}

static void parse_roles(json_t *roles, struct keystone_token_info *info)
{
    size_t i;
    json_t *r;

    json_array_foreach(roles, i, r)
    {
        const char *name = json_string_value(json_object_get(r, "name"));

        if (!name)
            continue;
        info->roles =
            xrealloc(info->roles, (info->n_roles + 1) * sizeof(*info->roles));
        info->roles[info->n_roles++] = xstrdup(name);
    }
}

int keystone_token_parse(const char *body, size_t len,
                         struct keystone_token_info *out, struct error *err)
{
    struct keystone_token_info info = {0};
    json_error_t jerr;
    json_t *root = NULL;
    json_t *token, *user, *project = NULL;
    const char *expires = NULL;
    int ret = -1;

    memset(out, 0, sizeof(*out));
    if (http_json_parse(body, len, "Keystone token response", &root, err) < 0)
        return -1;
    if (json_unpack_ex(root, &jerr, 0, "{s:{s:o, s?s, s?o}}", "token", "user",
                       &user, "expires_at", &expires, "project",
                       &project) < 0) {
        error_set(err, ERROR_PROTOCOL, 0, "unexpected Keystone token: %s",
                  jerr.text);
        goto out;
    }
    token = json_object_get(root, "token");
    if (expires && keystone_time_parse(expires, &info.expires_at) < 0) {
        error_set(err, ERROR_PROTOCOL, 0,
                  "unexpected Keystone token: bad expires_at '%s'", expires);
        goto out;
    }
    info.user_id = http_json_strdup(user, "id");
    info.user_name = http_json_strdup(user, "name");
    info.project_id = http_json_strdup(project, "id");
    info.project_name = http_json_strdup(project, "name");
    parse_roles(json_object_get(token, "roles"), &info);
    parse_catalog(json_object_get(token, "catalog"), &info.catalog);

    *out = info;
    memset(&info, 0, sizeof(info));
    ret = 0;
out:
    keystone_token_info_release(&info);
    json_decref(root);
    return ret;
}

void keystone_token_info_release(struct keystone_token_info *info)
{
    if (!info)
        return;
    free(info->user_id);
    free(info->user_name);
    free(info->project_id);
    free(info->project_name);
    for (size_t i = 0; i < info->n_roles; i++)
        free(info->roles[i]);
    free(info->roles);
    for (size_t i = 0; i < info->catalog.n; i++) {
        struct keystone_endpoint *e = &info->catalog.endpoints[i];

        free(e->type);
        free(e->interface);
        free(e->region);
        free(e->url);
    }
    free(info->catalog.endpoints);
    memset(info, 0, sizeof(*info));
}

/* ---- catalog lookup ----------------------------------------------- */

static bool str_eq(const char *a, const char *b)
{
    return a && b && !strcmp(a, b);
}

static bool region_known(const struct keystone_catalog *cat, const char *region)
{
    for (size_t i = 0; i < cat->n; i++) {
        if (str_eq(cat->endpoints[i].region, region))
            return true;
    }
    return false;
}

/* Append s to a comma-separated list unless it is there already. */
static void add_distinct(struct buf *list, const char *s)
{
    const char *p = buf_str(list);
    size_t n = strlen(s);

    while ((p = strstr(p, s))) {
        bool start = p == buf_str(list) || p[-1] == ' ';
        bool end = p[n] == '\0' || p[n] == ',';

        if (start && end)
            return;
        p += n;
    }
    if (list->len)
        buf_adds(list, ", ");
    buf_adds(list, s);
}

static int compare_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void keystone_catalog_regions(const struct keystone_catalog *cat,
                              struct buf *out)
{
    const char **names = xcalloc(cat->n + 1, sizeof(*names));
    size_t n = 0;

    for (size_t i = 0; i < cat->n; i++) {
        const char *r = cat->endpoints[i].region;
        bool seen = false;

        for (size_t j = 0; r && j < n && !seen; j++)
            seen = !strcmp(names[j], r);
        if (r && !seen)
            names[n++] = r;
    }
    qsort(names, n, sizeof(*names), compare_str);
    for (size_t i = 0; i < n; i++)
        buf_addf(out, "%s%s", i ? ", " : "", names[i]);
    if (!n)
        buf_adds(out, "none");
    free(names);
}

/*
 * The endpoints of one type: the wanted interface in the wanted region
 * (first match in *found), plus what exists elsewhere, for the error.
 */
struct match {
    const struct keystone_endpoint *found;
    struct buf regions;    /* regions offering type + interface */
    struct buf interfaces; /* interfaces offered for type in region */
    bool type_seen;
};

static void match_type(const struct keystone_catalog *cat, const char *type,
                       const char *region, const char *iface, struct match *m)
{
    for (size_t i = 0; i < cat->n; i++) {
        const struct keystone_endpoint *e = &cat->endpoints[i];
        bool in_region = !region || str_eq(e->region, region);

        if (strcmp(e->type, type) != 0)
            continue;
        m->type_seen = true;
        if (in_region)
            add_distinct(&m->interfaces, e->interface);
        if (strcmp(e->interface, iface) != 0)
            continue;
        add_distinct(&m->regions, e->region ? e->region : "(none)");
        if (in_region && !m->found)
            m->found = e;
    }
}

static int not_found(const struct keystone_catalog *cat,
                     const char *const *types, const char *region,
                     const char *iface, const struct match *m,
                     struct error *err)
{
    struct buf known = BUF_INIT;

    if (region && !region_known(cat, region)) {
        keystone_catalog_regions(cat, &known);
        error_set(err, ERROR_USAGE, 0,
                  "region '%s' is not in the service catalog (regions: %s)",
                  region, buf_str(&known));
    } else if (!m->type_seen) {
        error_set(err, ERROR_API, 0, "no '%s' service in the catalog%s%s",
                  types[0], region ? " of region " : "", region ? region : "");
    } else if (m->regions.len && region) {
        error_set(err, ERROR_API, 0,
                  "service '%s' has no %s endpoint in region '%s' (only in: "
                  "%s)",
                  types[0], iface, region, buf_str(&m->regions));
    } else {
        error_set(err, ERROR_API, 0,
                  "service '%s' has no %s endpoint%s%s (interfaces: %s)",
                  types[0], iface, region ? " in region " : "",
                  region ? region : "",
                  m->interfaces.len ? buf_str(&m->interfaces) : "none");
    }
    buf_release(&known);
    return -1;
}

int keystone_catalog_find(const struct keystone_catalog *cat,
                          const char *const *types, const char *region,
                          const char *interface, const char **url,
                          struct error *err)
{
    struct match m = {NULL, BUF_INIT, BUF_INIT, false};
    char *iface = interface_normalize(interface ? interface : "public");
    int ret = -1;

    *url = NULL;
    for (size_t t = 0; types[t] && !m.found; t++) {
        buf_reset(&m.regions);
        match_type(cat, types[t], region, iface, &m);
        if (m.found && !region && strchr(buf_str(&m.regions), ',')) {
            error_set(err, ERROR_USAGE, 0,
                      "service '%s' is offered in several regions (%s): "
                      "choose one with --os-region-name",
                      types[t], buf_str(&m.regions));
            goto out;
        }
    }
    if (!m.found) {
        not_found(cat, types, region, iface, &m, err);
        goto out;
    }
    *url = m.found->url;
    ret = 0;
out:
    buf_release(&m.regions);
    buf_release(&m.interfaces);
    free(iface);
    return ret;
}

/* ---- the session --------------------------------------------------- */

/* POST target: the auth URL may or may not name the API version. */
static char *tokens_url(const char *auth_url)
{
    size_t len = strlen(auth_url);

    while (len && auth_url[len - 1] == '/')
        len--;
    if (len >= 3 && !strncmp(auth_url + len - 3, "/v3", 3))
        return xasprintf("%.*s/auth/tokens", (int)len, auth_url);
    if (len >= 5 && !strncmp(auth_url + len - 5, "/v2.0", 5))
        return xasprintf("%.*s/v3/auth/tokens", (int)len - 5, auth_url);
    return xasprintf("%.*s/v3/auth/tokens", (int)len, auth_url);
}

/* {"id": id} or {"name": name, "domain": {"id"|"name": ...}} */
static json_t *named(const char *id, const char *name, const char *domain_id,
                     const char *domain_name)
{
    json_t *o = json_object();

    if (id) {
        json_object_set_new(o, "id", json_string(id));
        return o;
    }
    json_object_set_new(o, "name", json_string(name ? name : ""));
    if (domain_id)
        json_object_set_new(o, "domain", json_pack("{s:s}", "id", domain_id));
    else if (domain_name)
        json_object_set_new(o, "domain",
                            json_pack("{s:s}", "name", domain_name));
    return o;
}

static json_t *user_object(const struct keystone_auth *a)
{
    return named(a->user_id, a->username, a->user_domain_id,
                 a->user_domain_name);
}

/*
 * Put a secret string into obj and remember jansson's copy so that it can
 * be wiped before json_decref frees it.
 */
static void set_secret(json_t *obj, const char *key, const char *value,
                       json_t **copy)
{
    *copy = json_string(value ? value : "");
    json_object_set(obj, key, *copy);
}

static void wipe_secret(json_t *copy)
{
    if (copy) {
        explicit_bzero((char *)json_string_value(copy),
                       json_string_length(copy));
        json_decref(copy);
    }
}

static json_t *identity(const struct keystone_auth *a, json_t **secret)
{
    json_t *id = json_object();
    json_t *m = json_object();
    const char *method;

    switch (keystone_auth_resolve(a)) {
    case KEYSTONE_AUTH_APPLICATION_CREDENTIAL:
        method = "application_credential";
        if (a->application_credential_id)
            json_object_set_new(m, "id",
                                json_string(a->application_credential_id));
        else {
            json_object_set_new(m, "name",
                                json_string(a->application_credential_name));
            json_object_set_new(m, "user", user_object(a));
        }
        set_secret(m, "secret", a->application_credential_secret, secret);
        break;
    case KEYSTONE_AUTH_TOKEN:
        method = "token";
        set_secret(m, "id", a->token, secret);
        break;
    default:
        method = "password";
        json_object_set_new(m, "user", user_object(a));
        set_secret(json_object_get(m, "user"), "password", a->password, secret);
        break;
    }
    json_object_set_new(id, "methods", json_pack("[s]", method));
    json_object_set_new(id, method, m);
    return id;
}

/* The request body; an owned string the caller wipes. */
static char *auth_body(const struct keystone_auth *a)
{
    json_t *secret = NULL;
    json_t *auth = json_object();
    json_t *root = json_pack("{s:o}", "auth", auth);
    char *text;

    json_object_set_new(auth, "identity", identity(a, &secret));
    /* Application credentials carry their own scope; sending one is an
     * error. */
    if (keystone_auth_resolve(a) != KEYSTONE_AUTH_APPLICATION_CREDENTIAL &&
        (a->project_id || a->project_name)) {
        json_object_set_new(
            auth, "scope",
            json_pack("{s:o}", "project",
                      named(a->project_id, a->project_name,
                            a->project_domain_id, a->project_domain_name)));
    }
    text = http_json_dump(root);
    wipe_secret(secret);
    json_decref(root);
    if (!text)
        BUG("cannot encode a Keystone auth request");
    return text;
}

static const char *who(const struct keystone_auth *a)
{
    switch (keystone_auth_resolve(a)) {
    case KEYSTONE_AUTH_APPLICATION_CREDENTIAL:
        return a->application_credential_id ? a->application_credential_id
                                            : a->application_credential_name;
    case KEYSTONE_AUTH_TOKEN:
        return "token";
    default:
        return a->username ? a->username : a->user_id;
    }
}

static int authenticate(struct keystone *ks, struct error *err)
{
    struct http_request req = {0};
    struct http_response resp = HTTP_RESPONSE_INIT;
    struct keystone_token_info info = {0};
    char *body = auth_body(&ks->auth);
    char shown[1024];
    int ret = -1;

    req.method = "POST";
    req.url = ks->tokens_url;
    req.body = body;
    req.body_len = strlen(body);
    req.secret_body = true;
    if (http_send(ks->http, &req, &resp, err) < 0)
        goto fail;
    if (!resp.subject_token) {
        error_set(err, ERROR_PROTOCOL, 0,
                  "Keystone answered %ld without an X-Subject-Token",
                  resp.status);
        goto fail;
    }
    if (keystone_token_parse(resp.body.data, resp.body.len, &info, err) < 0)
        goto fail;
    if (!info.catalog.n) {
        error_set(err, ERROR_API, 0,
                  "the token has an empty service catalog (is a project "
                  "set, and does the user have a role on it?)");
        goto fail;
    }
    freezero_str(ks->token);
    ks->token = resp.subject_token;
    resp.subject_token = NULL;
    keystone_token_info_release(&ks->info);
    ks->info = info;
    memset(&info, 0, sizeof(info));
    log_debug("authenticated as '%s' (%s), project %s, token expires in "
              "%.0f s",
              who(&ks->auth),
              keystone_auth_type_name(keystone_auth_resolve(&ks->auth)),
              ks->info.project_id ? ks->info.project_id : "(none)",
              ks->info.expires_at ? ks->info.expires_at - time_wall() : 0);
    ret = 0;
    goto out;
fail:
    error_prefix(err, "cannot authenticate as '%s' at %s", who(&ks->auth),
                 url_redact(ks->auth.auth_url, shown, sizeof(shown)));
out:
    explicit_bzero(body, strlen(body));
    free(body);
    keystone_token_info_release(&info);
    http_response_release(&resp);
    return ret;
}

int keystone_open(const struct keystone_auth *auth, const char *region,
                  const char *interface, const struct http_options *http,
                  struct keystone **out, struct error *err)
{
    struct keystone *ks = NULL;
    struct buf known = BUF_INIT;
    int ret = -1;

    *out = NULL;
    if (keystone_auth_check(auth, err) < 0)
        return -1;
    ks = xcalloc(1, sizeof(*ks));
    auth_copy(&ks->auth, auth);
    ks->region = xstrdup(region);
    ks->interface = xstrdup(interface ? interface : "public");
    ks->tokens_url = tokens_url(auth->auth_url);
    if (http_client_new(http, &ks->http, err) < 0)
        goto out;
    if (authenticate(ks, err) < 0)
        goto out;
    if (region && !region_known(&ks->info.catalog, region)) {
        keystone_catalog_regions(&ks->info.catalog, &known);
        error_set(err, ERROR_USAGE, 0,
                  "region '%s' is not in the service catalog of %s "
                  "(regions: %s)",
                  region, auth->auth_url, buf_str(&known));
        goto out;
    }

    *out = ks;
    ks = NULL;
    ret = 0;
out:
    buf_release(&known);
    keystone_close(ks);
    return ret;
}

void keystone_close(struct keystone *ks)
{
    if (!ks)
        return;
    http_client_free(ks->http);
    keystone_auth_release(&ks->auth);
    freezero_str(ks->token);
    keystone_token_info_release(&ks->info);
    free(ks->region);
    free(ks->interface);
    free(ks->tokens_url);
    free(ks);
}

const char *keystone_project_id(const struct keystone *ks)
{
    return ks->info.project_id;
}

const char *keystone_region(const struct keystone *ks)
{
    return ks->region;
}

const struct keystone_token_info *keystone_info(const struct keystone *ks)
{
    return &ks->info;
}

bool keystone_has_role(const struct keystone *ks, const char *role)
{
    for (size_t i = 0; i < ks->info.n_roles; i++) {
        if (!strcasecmp(ks->info.roles[i], role))
            return true;
    }
    return false;
}

int keystone_endpoint_dup(struct keystone *ks, const char *const *types,
                          char **url, struct error *err)
{
    const char *u = NULL;
    size_t len;

    *url = NULL;
    if (keystone_catalog_find(&ks->info.catalog, types, ks->region,
                              ks->interface, &u, err) < 0)
        return -1;
    len = strlen(u);
    while (len && u[len - 1] == '/')
        len--;
    *url = xstrndup(u, len);
    return 0;
}

int keystone_reauthenticate(struct keystone *ks, struct error *err)
{
    return authenticate(ks, err);
}

int keystone_request(struct keystone *ks, const struct http_request *req,
                     struct http_response *resp, struct error *err)
{
    struct http_request r = *req;

    if (ks->info.expires_at &&
        time_wall() > ks->info.expires_at - EXPIRY_MARGIN) {
        log_info("token expires soon; authenticating again");
        if (authenticate(ks, err) < 0)
            return -1;
    }
    r.token = ks->token;
    if (http_send(ks->http, &r, resp, err) == 0)
        return 0;
    if (err->kind != ERROR_API || err->cause != 401)
        return -1;
    log_info("token refused by %s; authenticating again", req->url);
    if (authenticate(ks, err) < 0)
        return -1;
    r.token = ks->token;
    return http_send(ks->http, &r, resp, err);
}
