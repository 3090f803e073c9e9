/* SPDX-License-Identifier: MIT */
/*
 * tests/tools/rbm_os_client.c: a small command-line driver of openstack/,
 * for the integration tests (tests/integration/t41-openstack-client.sh).
 *
 * It runs the client library against a real cloud and prints what came
 * back as KEY=VALUE lines, including the status sequences seen while
 * waiting, so that shell tests can check create/attach/detach/delete flows
 * through the same code rbdmove uses. Not installed; not part of rbdmove.
 *
 *   rbm-os-client [-v] [--os-cloud C] [--os-region-name R] [--os-cacert F]
 *                 [--insecure] COMMAND ARGS...
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "openstack/cinder.h"
#include "openstack/config.h"
#include "openstack/keystone.h"
#include "openstack/nova.h"
#include "rbdmove/base/log.h"
#include "rbdmove/base/strutil.h"
#include "rbdmove/base/xalloc.h"
#include "tests/tools/cinder_manage.h"

struct session {
    struct keystone *ks;
    struct cinder *cinder;
    struct nova *nova;
};

static int fail(const struct error *err)
{
    fprintf(stderr, "rbm-os-client: %s [%s %d]\n", err->msg,
            error_kind_name(err->kind), err->cause);
    return 1;
}

static void print_volume(const struct cinder_volume *v)
{
    char image[64];

    printf("id=%s\nname=%s\nstatus=%s\nsize=%" PRIu64 "\ntype=%s\n", v->id,
           v->name ? v->name : "", v->status, v->size_gib,
           v->volume_type ? v->volume_type : "");
    printf("host=%s\nattachments=%zu\n", v->host ? v->host : "",
           v->n_attachments);
    for (size_t i = 0; i < v->n_attachments; i++)
        printf("attached.%zu=%s %s\n", i, v->attachments[i].server_id,
               v->attachments[i].device ? v->attachments[i].device : "");
    for (size_t i = 0; i < v->n_metadata; i++)
        printf("meta.%s=%s\n", v->metadata[i].key, v->metadata[i].value);
    printf("rbd_image=%s\n", cinder_volume_rbd_image(v, image, sizeof(image)));
}

static int wait_for(struct session *s, const char *id, const char *want,
                    double timeout, struct error *err)
{
    struct cinder_wait w = {want, timeout, 0, NULL};
    struct buf seen = BUF_INIT;
    double t0 = time_now();
    int r;

    w.seen = &seen;
    r = cinder_volume_wait(s->cinder, id, &w, NULL, err);
    printf("seen=%s\nwait_seconds=%.1f\n", buf_str(&seen), time_now() - t0);
    buf_release(&seen);
    return r;
}

static int cmd_auth(struct session *s)
{
    const struct keystone_token_info *t = keystone_info(s->ks);

    printf("user=%s\nproject_id=%s\nproject=%s\nregion=%s\n",
           t->user_name ? t->user_name : "", t->project_id,
           t->project_name ? t->project_name : "",
           keystone_region(s->ks) ? keystone_region(s->ks) : "");
    printf("cinder=%s\nnova=%s\nadmin=%s\n", cinder_url(s->cinder),
           nova_url(s->nova), keystone_has_role(s->ks, "admin") ? "yes" : "no");
    return 0;
}

static int cmd_volume_create(struct session *s, int argc, char **argv,
                             struct error *err)
{
    struct cinder_volume_spec spec;
    struct cinder_volume v;
    struct cinder_kv kv = {"rbdmove.test", "t41"};
    uint64_t size;

    memset(&spec, 0, sizeof(spec));
    if (argc < 2 || parse_uint(argv[0], "size", 1, 1 << 20, &size, err) < 0)
        return error_set(err, ERROR_USAGE, 0,
                         "volume-create SIZE_GIB NAME [TYPE]");
    spec.size_gib = size;
    spec.name = argv[1];
    spec.volume_type = argc > 2 ? argv[2] : NULL;
    spec.metadata = &kv;
    spec.n_metadata = 1;
    if (cinder_volume_create(s->cinder, &spec, &v, err) < 0)
        return -1;
    printf("id=%s\ncreated_status=%s\n", v.id, v.status);
    fflush(stdout);
    if (wait_for(s, v.id, "available", 120, err) < 0) {
        cinder_volume_release(&v);
        return -1;
    }
    cinder_volume_release(&v);
    return 0;
}

static int cmd_attach(struct session *s, int argc, char **argv,
                      struct error *err)
{
    struct nova_server srv;
    struct cinder_volume v;
    struct nova_attachment a;
    double t0 = time_now();
    int ret = -1;

    if (argc != 2)
        return error_set(err, ERROR_USAGE, 0, "attach SERVER VOLUME");
    if (nova_server_find(s->nova, argv[0], &srv, err) < 0)
        return -1;
    if (cinder_volume_find(s->cinder, argv[1], &v, err) < 0)
        goto out_srv;
    if (nova_volume_attach(s->nova, srv.id, v.id, NULL, &a, err) < 0)
        goto out;
    printf("device=%s\nrequest_seconds=%.1f\n", a.device ? a.device : "",
           time_now() - t0);
    free(a.device);
    free(a.attachment_id);
    ret = wait_for(s, v.id, "in-use", 120, err);
out:
    cinder_volume_release(&v);
out_srv:
    nova_server_release(&srv);
    return ret;
}

static int cmd_detach(struct session *s, int argc, char **argv,
                      struct error *err)
{
    struct nova_server srv;
    struct cinder_volume v;
    int ret = -1;

    if (argc != 2)
        return error_set(err, ERROR_USAGE, 0, "detach SERVER VOLUME");
    if (nova_server_find(s->nova, argv[0], &srv, err) < 0)
        return -1;
    if (cinder_volume_find(s->cinder, argv[1], &v, err) == 0 &&
        nova_volume_detach(s->nova, srv.id, v.id, err) == 0)
        ret = wait_for(s, v.id, "available", 120, err);
    cinder_volume_release(&v);
    nova_server_release(&srv);
    return ret;
}

static int cmd_volume_delete(struct session *s, int argc, char **argv,
                             struct error *err)
{
    struct cinder_volume v;
    char id[37];

    if (argc != 1)
        return error_set(err, ERROR_USAGE, 0, "volume-delete VOLUME");
    if (cinder_volume_find(s->cinder, argv[0], &v, err) < 0)
        return -1;
    memcpy(id, v.id, sizeof(id));
    cinder_volume_release(&v);
    if (cinder_volume_delete(s->cinder, id, err) < 0)
        return -1;
    return wait_for(s, id, "deleted", 120, err);
}

static int cmd_volume_show(struct session *s, int argc, char **argv,
                           struct error *err)
{
    struct cinder_volume v;

    if (argc != 1)
        return error_set(err, ERROR_USAGE, 0, "volume-show VOLUME");
    if (cinder_volume_find(s->cinder, argv[0], &v, err) < 0)
        return -1;
    print_volume(&v);
    cinder_volume_release(&v);
    return 0;
}

/* volume-list [KEY=VALUE]: the ids of the project's volumes (with KEY=VALUE
 * in their metadata), one "id=ID" line each. */
static int cmd_volume_list(struct session *s, int argc, char **argv,
                           struct error *err)
{
    struct cinder_volume *v = NULL;
    const char *eq = argc == 1 ? strchr(argv[0], '=') : NULL;
    size_t n = 0, klen = eq ? (size_t)(eq - argv[0]) : 0;
    char key[256];

    if (argc > 1 || (argc == 1 && (!eq || klen >= sizeof(key))))
        return error_set(err, ERROR_USAGE, 0, "volume-list [KEY=VALUE]");
    if (eq) {
        memcpy(key, argv[0], klen);
        key[klen] = '\0';
    }
    if (cinder_volume_list(s->cinder, NULL, &v, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const char *m = eq ? cinder_volume_meta(&v[i], key) : NULL;

        if (!eq || (m && !strcmp(m, eq + 1)))
            printf("id=%s\n", v[i].id);
    }
    cinder_volumes_free(v, n);
    return 0;
}

static int cmd_server_show(struct session *s, int argc, char **argv,
                           struct error *err)
{
    struct nova_server srv;
    struct nova_attachment *a = NULL;
    size_t n = 0;

    if (argc != 1)
        return error_set(err, ERROR_USAGE, 0, "server-show SERVER");
    if (nova_server_find(s->nova, argv[0], &srv, err) < 0)
        return -1;
    printf("id=%s\nname=%s\nstatus=%s\ntask_state=%s\n", srv.id,
           srv.name ? srv.name : "", srv.status,
           srv.task_state ? srv.task_state : "");
    if (nova_attachments_list(s->nova, srv.id, &a, &n, err) == 0) {
        for (size_t i = 0; i < n; i++)
            printf("volume.%zu=%s %s\n", i, a[i].volume_id,
                   a[i].device ? a[i].device : "");
    }
    nova_attachments_free(a, n);
    nova_server_release(&srv);
    return err->kind == ERROR_NONE ? 0 : -1;
}

static int cmd_wait(struct session *s, int argc, char **argv, struct error *err)
{
    double timeout = 60;

    if (argc < 2 || argc > 3 ||
        (argc == 3 && parse_seconds(argv[2], "timeout", &timeout, err) < 0))
        return error_set(err, ERROR_USAGE, 0,
                         "volume-wait VOLUME_ID STATUS [TIMEOUT]");
    return wait_for(s, argv[0], argv[1], timeout, err);
}

static int cmd_reset_status(struct session *s, int argc, char **argv,
                            struct error *err)
{
    if (argc != 2)
        return error_set(err, ERROR_USAGE, 0, "reset-status VOLUME_ID STATUS");
    return cinder_volume_reset_status(s->cinder, argv[0], argv[1], err);
}

static int cmd_metadata(struct session *s, int argc, char **argv,
                        struct error *err)
{
    struct cinder_kv kv;
    char *key;
    int r;

    if (argc != 2 || !strchr(argv[1], '='))
        return error_set(err, ERROR_USAGE, 0, "metadata-set VOLUME_ID K=V");
    key = xstrndup(argv[1], (size_t)(strchr(argv[1], '=') - argv[1]));
    kv.key = key;
    kv.value = strchr(argv[1], '=') + 1;
    r = cinder_volume_metadata_set(s->cinder, argv[0], &kv, 1, err);
    free(key);
    return r;
}

/* metadata-unset VOLUME_ID KEY */
static int cmd_metadata_unset(struct session *s, int argc, char **argv,
                              struct error *err)
{
    if (argc != 2)
        return error_set(err, ERROR_USAGE, 0, "metadata-unset VOLUME_ID KEY");
    return cinder_volume_metadata_unset(s->cinder, argv[0], argv[1], err);
}

static int cmd_pools(struct session *s, struct error *err)
{
    struct cinder_pool *p = NULL;
    size_t n = 0;

    if (cinder_pools_list(s->cinder, &p, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        printf("pool.%zu=%s backend=%s protocol=%s rbd_pool=%s fsid=%s "
               "free_gib=%.1f\n",
               i, p[i].name, p[i].backend_name ? p[i].backend_name : "",
               p[i].storage_protocol ? p[i].storage_protocol : "",
               p[i].rbd_pool ? p[i].rbd_pool : "",
               p[i].ceph_fsid ? p[i].ceph_fsid : "", p[i].free_gib);
    cinder_pools_free(p, n);
    return 0;
}

static int cmd_manage(struct session *s, int argc, char **argv,
                      struct error *err)
{
    struct cinder_manage_spec spec;
    struct cinder_volume v;
    int r;

    memset(&spec, 0, sizeof(spec));
    if (argc != 3)
        return error_set(err, ERROR_USAGE, 0, "manage HOST IMAGE NAME");
    spec.host = argv[0];
    spec.source_name = argv[1];
    spec.name = argv[2];
    if (cinder_volume_manage(s->ks, s->cinder, &spec, &v, err) < 0)
        return -1;
    printf("id=%s\ncreated_status=%s\n", v.id, v.status);
    r = wait_for(s, v.id, "available", 120, err);
    cinder_volume_release(&v);
    return r;
}

static int cmd_manageable(struct session *s, int argc, char **argv,
                          struct error *err)
{
    struct cinder_manageable *m = NULL;
    size_t n = 0;

    if (argc != 1)
        return error_set(err, ERROR_USAGE, 0, "manageable HOST");
    if (cinder_manageable_list(s->ks, s->cinder, argv[0], &m, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        printf("manageable.%zu=%s size=%" PRIu64 " safe=%s\n", i,
               m[i].reference ? m[i].reference : "", m[i].size_gib,
               m[i].safe_to_manage ? "yes" : "no");
    cinder_manageables_free(m, n);
    return 0;
}

static int cmd_unmanage(struct session *s, int argc, char **argv,
                        struct error *err)
{
    if (argc != 1)
        return error_set(err, ERROR_USAGE, 0, "unmanage VOLUME_ID");
    if (cinder_volume_unmanage(s->ks, s->cinder, argv[0], err) < 0)
        return -1;
    return wait_for(s, argv[0], "deleted", 60, err);
}

/* raw cinder|nova PATH: the body of a GET, to record test data. */
static int cmd_raw(struct session *s, int argc, char **argv, struct error *err)
{
    struct http_request req;
    struct http_response resp = HTTP_RESPONSE_INIT;
    char *url;
    int r;

    memset(&req, 0, sizeof(req));
    if (argc != 2)
        return error_set(err, ERROR_USAGE, 0, "raw cinder|nova PATH");
    url = xasprintf("%s%s",
                    strcmp(argv[0], "nova") ? cinder_url(s->cinder)
                                            : nova_url(s->nova),
                    argv[1]);
    req.method = "GET";
    req.url = url;
    req.headers[0] = strcmp(argv[0], "nova")
                         ? "OpenStack-API-Version: volume " CINDER_MICROVERSION
                         : "OpenStack-API-Version: compute " NOVA_MICROVERSION;
    r = keystone_request(s->ks, &req, &resp, err);
    if (resp.body.len)
        printf("%s\n", buf_str(&resp.body));
    http_response_release(&resp);
    free(url);
    return r;
}

/*
 * reauth-check FILE: one request, then wait until FILE exists (the test
 * revokes the session's token meanwhile), then a request to Nova, which
 * must succeed by authenticating again.
 */
static int cmd_reauth_check(struct session *s, int argc, char **argv,
                            struct error *err)
{
    struct cinder_limits l;
    struct nova_server srv;
    double deadline = time_now() + 120;

    if (argc != 1)
        return error_set(err, ERROR_USAGE, 0, "reauth-check FILE");
    if (cinder_limits_get(s->cinder, NULL, &l, err) < 0)
        return -1;
    printf("first=ok\n");
    fflush(stdout);
    while (access(argv[0], F_OK) != 0) {
        if (time_now() > deadline)
            return error_set(err, ERROR_STATE, 0, "%s never appeared", argv[0]);
        http_sleep(0.2);
    }
    /* Nova has not seen the token yet, so it asks Keystone (Cinder's
     * middleware may still have it cached as valid). */
    if (nova_server_find(s->nova, "rbm-no-such-server", &srv, err) == 0) {
        nova_server_release(&srv);
    } else if (err->kind != ERROR_API || err->cause != 404) {
        return -1;
    }
    error_clear(err);
    printf("second=ok\n");
    return 0;
}

static int run(struct session *s, const char *cmd, int argc, char **argv,
               struct error *err)
{
    if (!strcmp(cmd, "auth"))
        return cmd_auth(s);
    if (!strcmp(cmd, "volume-create"))
        return cmd_volume_create(s, argc, argv, err);
    if (!strcmp(cmd, "volume-show"))
        return cmd_volume_show(s, argc, argv, err);
    if (!strcmp(cmd, "volume-list"))
        return cmd_volume_list(s, argc, argv, err);
    if (!strcmp(cmd, "volume-delete"))
        return cmd_volume_delete(s, argc, argv, err);
    if (!strcmp(cmd, "volume-wait"))
        return cmd_wait(s, argc, argv, err);
    if (!strcmp(cmd, "reset-status"))
        return cmd_reset_status(s, argc, argv, err);
    if (!strcmp(cmd, "metadata-set"))
        return cmd_metadata(s, argc, argv, err);
    if (!strcmp(cmd, "metadata-unset"))
        return cmd_metadata_unset(s, argc, argv, err);
    if (!strcmp(cmd, "attach"))
        return cmd_attach(s, argc, argv, err);
    if (!strcmp(cmd, "detach"))
        return cmd_detach(s, argc, argv, err);
    if (!strcmp(cmd, "server-show"))
        return cmd_server_show(s, argc, argv, err);
    if (!strcmp(cmd, "pools"))
        return cmd_pools(s, err);
    if (!strcmp(cmd, "manageable"))
        return cmd_manageable(s, argc, argv, err);
    if (!strcmp(cmd, "manage"))
        return cmd_manage(s, argc, argv, err);
    if (!strcmp(cmd, "unmanage"))
        return cmd_unmanage(s, argc, argv, err);
    if (!strcmp(cmd, "reauth-check"))
        return cmd_reauth_check(s, argc, argv, err);
    if (!strcmp(cmd, "raw"))
        return cmd_raw(s, argc, argv, err);
    return error_set(err, ERROR_USAGE, 0, "unknown command '%s'", cmd);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"os-cloud", required_argument, NULL, 'c'},
        {"os-region-name", required_argument, NULL, 'r'},
        {"os-cacert", required_argument, NULL, 'a'},
        {"insecure", no_argument, NULL, 'k'},
        {"verbose", no_argument, NULL, 'v'},
        {NULL, 0, NULL, 0},
    };
    struct config_args args;
    struct config_cloud cloud;
    struct http_options http;
    struct session s = {NULL, NULL, NULL};
    struct error err = ERROR_INIT;
    int c, ret = 1;

    memset(&args, 0, sizeof(args));
    memset(&cloud, 0, sizeof(cloud));
    args.use_env = true;
    while ((c = getopt_long(argc, argv, "+v", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            args.cloud = optarg;
            break;
        case 'r':
            args.region = optarg;
            break;
        case 'a':
            args.cacert = optarg;
            break;
        case 'k':
            args.insecure = true;
            break;
        case 'v':
            log_set_level(log_get_level() < LOG_LEVEL_INFO ? LOG_LEVEL_INFO
                                                           : LOG_LEVEL_DEBUG);
            break;
        default:
            return 2;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "usage: rbm-os-client [options] COMMAND ARGS...\n");
        return 2;
    }
    if (config_cloud_load(&args, &cloud, &err) < 0)
        goto out;
    config_cloud_http(&cloud, &http);
    if (keystone_open(&cloud.auth, cloud.region, cloud.interface, &http, &s.ks,
                      &err) < 0 ||
        cinder_open(s.ks, &s.cinder, &err) < 0 ||
        nova_open(s.ks, &s.nova, &err) < 0)
        goto out;
    if (run(&s, argv[optind], argc - optind - 1, argv + optind + 1, &err) == 0)
        ret = 0;
out:
    if (ret)
        fail(&err);
    nova_close(s.nova);
    cinder_close(s.cinder);
    keystone_close(s.ks);
    config_cloud_release(&cloud);
    return ret;
}
