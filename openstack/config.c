/* SPDX-License-Identifier: MIT */
/*
 * openstack/config.c: clouds.yaml, secure.yaml and the OS_* variables.
 *
 * Reads YAML with libyaml's document API (document.c reads batch plans
 * the same way) and produces a plain struct config_cloud; it authenticates
 * nothing. Secret values pass through here on their way into struct
 * keystone_auth and are set with keystone_auth_set, which wipes what it
 * replaces. (libyaml's own buffers are freed without wiping; that copy is
 * outside our reach.)
 */
#include "openstack/config.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <yaml.h>

#include "rbdmove/base/buf.h"
#include "rbdmove/base/xalloc.h"

/* One loaded YAML file. */
struct yaml_file {
    char *path;
    yaml_document_t doc;
    bool loaded;
};

/* An auth: key of clouds.yaml and its OS_* variable. */
struct auth_key {
    const char *key;
    const char *env;
    size_t off; /* of the char * in struct keystone_auth */
};

#define AUTH_FIELD(f) offsetof(struct keystone_auth, f)

static const struct auth_key auth_keys[] = {
    {"auth_url", "OS_AUTH_URL", AUTH_FIELD(auth_url)},
    {"username", "OS_USERNAME", AUTH_FIELD(username)},
    {"user_id", "OS_USER_ID", AUTH_FIELD(user_id)},
    {"user_domain_name", "OS_USER_DOMAIN_NAME", AUTH_FIELD(user_domain_name)},
    {"user_domain_id", "OS_USER_DOMAIN_ID", AUTH_FIELD(user_domain_id)},
    {"project_name", "OS_PROJECT_NAME", AUTH_FIELD(project_name)},
    {"tenant_name", "OS_TENANT_NAME", AUTH_FIELD(project_name)},
    {"project_id", "OS_PROJECT_ID", AUTH_FIELD(project_id)},
    {"tenant_id", "OS_TENANT_ID", AUTH_FIELD(project_id)},
    {"project_domain_name", "OS_PROJECT_DOMAIN_NAME",
     AUTH_FIELD(project_domain_name)},
    {"project_domain_id", "OS_PROJECT_DOMAIN_ID",
     AUTH_FIELD(project_domain_id)},
    {"application_credential_id", "OS_APPLICATION_CREDENTIAL_ID",
     AUTH_FIELD(application_credential_id)},
    {"application_credential_name", "OS_APPLICATION_CREDENTIAL_NAME",
     AUTH_FIELD(application_credential_name)},
    {"password", "OS_PASSWORD", AUTH_FIELD(password)},
    {"application_credential_secret", "OS_APPLICATION_CREDENTIAL_SECRET",
     AUTH_FIELD(application_credential_secret)},
    {"token", "OS_TOKEN", AUTH_FIELD(token)},
};

static char **auth_field(struct keystone_auth *a, const struct auth_key *k)
{
    return (char **)((char *)a + k->off);
}

/* An OS_* variable; empty counts as unset, as in openstackclient. */
static const char *env(const char *name)
{
    const char *v = getenv(name);

    return v && *v ? v : NULL;
}

/* ---- YAML access --------------------------------------------------- */

static int yaml_load(const char *path, struct yaml_file *f, struct error *err)
{
    yaml_parser_t parser;
    FILE *fp;
    int ret = -1;

    f->path = xstrdup(path);
    fp = fopen(path, "r");
    if (!fp)
        return error_set(err, ERROR_IO, errno, "cannot open '%s'", path);
    if (!yaml_parser_initialize(&parser)) {
        fclose(fp);
        return error_set(err, ERROR_IO, ENOMEM, "cannot start libyaml");
    }
    yaml_parser_set_input_file(&parser, fp);
    if (!yaml_parser_load(&parser, &f->doc)) {
        error_set(err, ERROR_USAGE, 0, "cannot parse '%s': %s at line %zu",
                  path, parser.problem ? parser.problem : "malformed YAML",
                  parser.problem_mark.line + 1);
        goto out;
    }
    f->loaded = true;
    ret = 0;
out:
    yaml_parser_delete(&parser);
    fclose(fp);
    return ret;
}

static void yaml_release(struct yaml_file *f)
{
    if (f->loaded)
        yaml_document_delete(&f->doc);
    free(f->path);
    memset(f, 0, sizeof(*f));
}

/* openstacksdk treats "project-name" and "project_name" alike. */
static bool key_eq(const char *a, size_t alen, const char *b)
{
    size_t i;

    for (i = 0; i < alen && b[i]; i++) {
        char x = a[i] == '-' ? '_' : a[i];
        char y = b[i] == '-' ? '_' : b[i];

        if (x != y)
            return false;
    }
    return i == alen && b[i] == '\0';
}

static yaml_node_t *map_get(struct yaml_file *f, yaml_node_t *map,
                            const char *key)
{
    if (!f->loaded || !map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
         p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(&f->doc, p->key);

        if (k && k->type == YAML_SCALAR_NODE &&
            key_eq((const char *)k->data.scalar.value, k->data.scalar.length,
                   key))
            return yaml_document_get_node(&f->doc, p->value);
    }
    return NULL;
}

static const char *scalar(yaml_node_t *n)
{
    if (!n || n->type != YAML_SCALAR_NODE)
        return NULL;
    return (const char *)n->data.scalar.value;
}

/* clouds.<name> in f, or NULL. */
static yaml_node_t *cloud_node(struct yaml_file *f, const char *name)
{
    if (!f->loaded)
        return NULL;
    return map_get(
        f, map_get(f, yaml_document_get_root_node(&f->doc), "clouds"), name);
}

/* The clouds of the main file and of secure.yaml, secure first. */
struct cloud_nodes {
    struct yaml_file *file[2];
    yaml_node_t *node[2];
};

/* A scalar under the cloud: section may be NULL (top level) or "auth". */
static const char *cloud_get(const struct cloud_nodes *c, const char *section,
                             const char *key)
{
    for (int i = 0; i < 2; i++) {
        yaml_node_t *n = c->node[i];
        const char *v;

        if (!n)
            continue;
        if (section)
            n = map_get(c->file[i], n, section);
        v = scalar(map_get(c->file[i], n, key));
        if (v)
            return v;
    }
    return NULL;
}

/* YAML 1.1 booleans, as PyYAML reads them; -1 when not a boolean. */
static int parse_bool(const char *s)
{
    static const char *const yes[] = {"true", "yes", "on", "1", NULL};
    static const char *const no[] = {"false", "no", "off", "0", NULL};

    if (!s)
        return -1;
    for (int i = 0; yes[i]; i++) {
        if (!strcasecmp(s, yes[i]))
            return 1;
        if (!strcasecmp(s, no[i]))
            return 0;
    }
    return -1;
}

/* ---- finding the files ---------------------------------------------- */

/* The first existing file of the usual places for base ("clouds" or
 * "secure"); an owned path or NULL. */
static char *find_file(const char *const *given, const char *env_name,
                       const char *base, struct buf *searched)
{
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    char *paths[8] = {NULL};
    char *found = NULL;
    size_t n = 0;

    if (given) {
        for (size_t i = 0; given[i] && n < 7; i++)
            paths[n++] = xstrdup(given[i]);
    } else {
        if (env(env_name))
            paths[n++] = xstrdup(env(env_name));
        paths[n++] = xasprintf("./%s.yaml", base);
        paths[n++] = xasprintf("./%s.yml", base);
        if (xdg && *xdg)
            paths[n++] = xasprintf("%s/openstack/%s.yaml", xdg, base);
        else if (home && *home)
            paths[n++] = xasprintf("%s/.config/openstack/%s.yaml", home, base);
        paths[n++] = xasprintf("/etc/openstack/%s.yaml", base);
    }
    for (size_t i = 0; i < n; i++) {
        if (searched) {
            if (searched->len)
                buf_adds(searched, ", ");
            buf_adds(searched, paths[i]);
        }
        if (!found && access(paths[i], F_OK) == 0)
            found = xstrdup(paths[i]);
        free(paths[i]);
    }
    return found;
}

static void list_clouds(struct yaml_file *f, struct buf *out)
{
    yaml_node_t *clouds;

    if (!f->loaded)
        return;
    clouds = map_get(f, yaml_document_get_root_node(&f->doc), "clouds");
    if (!clouds || clouds->type != YAML_MAPPING_NODE)
        return;
    for (yaml_node_pair_t *p = clouds->data.mapping.pairs.start;
         p < clouds->data.mapping.pairs.top; p++) {
        const char *k = scalar(yaml_document_get_node(&f->doc, p->key));

        if (k)
            buf_addf(out, "%s%s", out->len ? ", " : "", k);
    }
}

/* ---- filling the cloud ---------------------------------------------- */

static int set_auth_type(struct keystone_auth *a, const char *s,
                         struct error *err)
{
    if (!s)
        return 0;
    if (!strcmp(s, "password") || !strcmp(s, "v3password"))
        a->type = KEYSTONE_AUTH_PASSWORD;
    else if (!strcmp(s, "v3applicationcredential") ||
             !strcmp(s, "applicationcredential"))
        a->type = KEYSTONE_AUTH_APPLICATION_CREDENTIAL;
    else if (!strcmp(s, "token") || !strcmp(s, "v3token"))
        a->type = KEYSTONE_AUTH_TOKEN;
    else
        return error_set(err, ERROR_USAGE, 0,
                         "auth type '%s' is not supported (password, "
                         "v3applicationcredential, token)",
                         s);
    return 0;
}

static void set_str(char **field, const char *value)
{
    if (value)
        keystone_auth_set(field, value);
}

/* default_domain fills both domains when neither is given (openstacksdk). */
static void apply_default_domain(struct keystone_auth *a, const char *id)
{
    if (!id)
        return;
    if (!a->user_domain_id && !a->user_domain_name)
        set_str(&a->user_domain_id, id);
    if (!a->project_domain_id && !a->project_domain_name)
        set_str(&a->project_domain_id, id);
}

static int from_yaml(const struct cloud_nodes *c, struct config_cloud *out,
                     struct error *err)
{
    const char *v;
    int b;

    for (size_t i = 0; i < sizeof(auth_keys) / sizeof(auth_keys[0]); i++)
        set_str(auth_field(&out->auth, &auth_keys[i]),
                cloud_get(c, "auth", auth_keys[i].key));
    apply_default_domain(&out->auth, cloud_get(c, "auth", "default_domain"));
    if (set_auth_type(&out->auth, cloud_get(c, NULL, "auth_type"), err) < 0)
        return -1;
    set_str(&out->region, cloud_get(c, NULL, "region_name"));
    v = cloud_get(c, NULL, "interface");
    set_str(&out->interface, v ? v : cloud_get(c, NULL, "endpoint_type"));
    set_str(&out->cacert, cloud_get(c, NULL, "cacert"));
    b = parse_bool(cloud_get(c, NULL, "verify"));
    if (b == 0) {
        out->insecure = true;
        out->insecure_why = "verify: false in clouds.yaml";
    }
    b = parse_bool(cloud_get(c, NULL, "insecure"));
    if (b >= 0) {
        out->insecure = b;
        out->insecure_why = b ? "insecure: true in clouds.yaml" : NULL;
    }
    return 0;
}

static int from_env(struct config_cloud *out, struct error *err)
{
    const char *v;
    int b;

    for (size_t i = 0; i < sizeof(auth_keys) / sizeof(auth_keys[0]); i++)
        set_str(auth_field(&out->auth, &auth_keys[i]), env(auth_keys[i].env));
    apply_default_domain(&out->auth, env("OS_DEFAULT_DOMAIN"));
    if (set_auth_type(&out->auth, env("OS_AUTH_TYPE"), err) < 0)
        return -1;
    set_str(&out->region, env("OS_REGION_NAME"));
    v = env("OS_INTERFACE");
    set_str(&out->interface, v ? v : env("OS_ENDPOINT_TYPE"));
    set_str(&out->cacert, env("OS_CACERT"));
    v = env("OS_INSECURE");
    b = parse_bool(v);
    if (v && b < 0)
        return error_set(err, ERROR_USAGE, 0,
                         "OS_INSECURE='%s' is not a boolean", v);
    if (b >= 0) {
        out->insecure = b;
        out->insecure_why = b ? "OS_INSECURE" : NULL;
    }
    return 0;
}

/* The regions: list of a cloud, as names (scalars or {name: ...}). */
static int check_region(const struct cloud_nodes *c, struct config_cloud *out,
                        struct error *err)
{
    struct buf names = BUF_INIT;
    bool listed = false;
    const char *first = NULL;
    int ret = 0;

    for (int i = 0; i < 2 && !names.len; i++) {
        yaml_node_t *seq =
            c->node[i] ? map_get(c->file[i], c->node[i], "regions") : NULL;

        if (!seq || seq->type != YAML_SEQUENCE_NODE)
            continue;
        for (yaml_node_item_t *it = seq->data.sequence.items.start;
             it < seq->data.sequence.items.top; it++) {
            yaml_node_t *n = yaml_document_get_node(&c->file[i]->doc, *it);
            const char *name = scalar(n);

            if (!name)
                name = scalar(map_get(c->file[i], n, "name"));
            if (!name)
                continue;
            if (!first)
                first = name;
            if (out->region && !strcmp(out->region, name))
                listed = true;
            buf_addf(&names, "%s%s", names.len ? ", " : "", name);
        }
    }
    if (!names.len)
        goto out;
    if (!out->region) {
        set_str(&out->region, first);
    } else if (!listed) {
        ret = error_set(err, ERROR_USAGE, 0,
                        "region '%s' is not a region of cloud '%s' "
                        "(regions: %s)",
                        out->region, out->name, buf_str(&names));
    }
out:
    buf_release(&names);
    return ret;
}

static int load_cloud_files(const struct config_args *args, const char *name,
                            struct yaml_file files[2], struct cloud_nodes *c,
                            struct config_cloud *out, struct error *err)
{
    struct buf searched = BUF_INIT;
    struct buf known = BUF_INIT;
    char *path = NULL;
    char *secure = NULL;
    int ret = -1;

    path = find_file(args->config_files, "OS_CLIENT_CONFIG_FILE", "clouds",
                     &searched);
    secure =
        find_file(args->secure_files, "OS_CLIENT_SECURE_FILE", "secure", NULL);
    if (!path && !secure) {
        error_set(err, ERROR_USAGE, 0,
                  "cloud '%s' requested but no clouds.yaml found (searched "
                  "%s)",
                  name, buf_str(&searched));
        goto out;
    }
    if (secure && yaml_load(secure, &files[0], err) < 0)
        goto out;
    if (path && yaml_load(path, &files[1], err) < 0)
        goto out;
    for (int i = 0; i < 2; i++) {
        c->file[i] = &files[i];
        c->node[i] = cloud_node(&files[i], name);
    }
    if (!c->node[0] && !c->node[1]) {
        list_clouds(&files[1], &known);
        error_set(err, ERROR_USAGE, 0,
                  "cloud '%s' not found in %s (clouds: %s)", name,
                  path ? path : secure, known.len ? buf_str(&known) : "none");
        goto out;
    }
    out->source = xstrdup(path ? path : secure);
    ret = 0;
out:
    free(path);
    free(secure);
    buf_release(&searched);
    buf_release(&known);
    return ret;
}

static void apply_args(const struct config_args *args, struct config_cloud *out)
{
    set_str(&out->region, args->region);
    set_str(&out->interface, args->interface);
    set_str(&out->cacert, args->cacert);
    if (args->insecure) {
        out->insecure = true;
        out->insecure_why = "--insecure";
    }
    if (!out->interface)
        out->interface = xstrdup("public");
}

int config_cloud_load(const struct config_args *args, struct config_cloud *out,
                      struct error *err)
{
    struct config_cloud c = {0};
    struct yaml_file files[2] = {{0}, {0}};
    struct cloud_nodes nodes = {{NULL, NULL}, {NULL, NULL}};
    const char *name = args->cloud;
    int ret = -1;

    memset(out, 0, sizeof(*out));
    if (!name && args->use_env)
        name = env("OS_CLOUD");
    if (!name && !(args->use_env && env("OS_AUTH_URL"))) {
        return error_set(err, ERROR_USAGE, 0,
                         "no cloud given: use --os-cloud, or set OS_CLOUD "
                         "or the OS_AUTH_URL family of variables");
    }
    c.name = xstrdup(name ? name : "envvars");
    if (name) {
        if (load_cloud_files(args, name, files, &nodes, &c, err) < 0)
            goto out;
        if (from_yaml(&nodes, &c, err) < 0)
            goto out;
    } else {
        c.source = xstrdup("environment");
    }
    if (args->use_env && from_env(&c, err) < 0)
        goto out;
    apply_args(args, &c);
    if (check_region(&nodes, &c, err) < 0)
        goto out;
    if (keystone_auth_check(&c.auth, err) < 0) {
        error_prefix(err, "cloud '%s'", c.name);
        goto out;
    }

    *out = c;
    memset(&c, 0, sizeof(c));
    ret = 0;
out:
    yaml_release(&files[0]);
    yaml_release(&files[1]);
    config_cloud_release(&c);
    return ret;
}

void config_cloud_release(struct config_cloud *c)
{
    if (!c)
        return;
    free(c->name);
    free(c->source);
    keystone_auth_release(&c->auth);
    free(c->region);
    free(c->interface);
    free(c->cacert);
    memset(c, 0, sizeof(*c));
}

void config_cloud_http(const struct config_cloud *c, struct http_options *out)
{
    memset(out, 0, sizeof(*out));
    out->cacert = c->cacert;
    out->insecure = c->insecure;
}
