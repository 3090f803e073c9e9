/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/cli_remote.c: destination arguments into struct dest.
 */
#include "rbdmove/cli_remote.h"

#include <stdlib.h>
#include <string.h>

#include "rbdmove/cluster.h"
#include "rbdmove/dest.h"
#include "rbdmove/image.h"
#include "rbdmove/strutil.h"
#include "rbdmove/xalloc.h"

struct cli_session {
    struct cluster *cl;
};

void cli_remote_init(struct cli_remote *r)
{
    memset(r, 0, sizeof(*r));
    r->remote_rbdmove = "rbdmove";
    r->streams = 4;
    r->timeout_s = 30;
}

int cli_remote_option(struct cli_remote *r, int c, const char *arg,
                      struct error *err)
{
    uint64_t v;
    double d;

    switch (c) {
    case 'i':
        r->identity = arg;
        return 0;
    case OPT_REMOTE_KNOWN_HOSTS:
        r->known_hosts = arg;
        return 0;
    case OPT_REMOTE_ACCEPT_NEW:
        r->accept_new_host_key = true;
        return 0;
    case OPT_REMOTE_RBDMOVE:
        r->remote_rbdmove = arg;
        return 0;
    case OPT_REMOTE_STREAMS:
        if (parse_uint(arg, "--streams", 1, 32, &v, err) < 0)
            return -1;
        r->streams = (unsigned)v;
        return 0;
    case OPT_REMOTE_COMPRESS:
        if (!arg) {
            r->compress_level = 1;
            return 0;
        }
        if (parse_uint(arg, "--compress", 1, 19, &v, err) < 0)
            return -1;
        r->compress_level = (int)v;
        return 0;
    case OPT_REMOTE_BWLIMIT:
        return parse_size(arg, "--bwlimit", &r->bwlimit, err);
    case OPT_REMOTE_RECEIVER:
        if (strcmp(arg, "rbdmove") && strcmp(arg, "rbd"))
            return error_set(err, ERROR_USAGE, 0,
                             "invalid --receiver '%s' (rbdmove or rbd)", arg);
        r->receiver_rbd = !strcmp(arg, "rbd");
        return 0;
    case OPT_REMOTE_TIMEOUT:
        if (parse_seconds(arg, "--ssh-timeout", &d, err) < 0)
            return -1;
        r->timeout_s = d < 1 ? 1 : (int)d;
        return 0;
    default:
        return error_set(err, ERROR_USAGE, 0, "unexpected option");
    }
}

int cli_remote_dest(const struct cli_remote *r, const char *spec,
                    const char *conf, const char *id, struct dest **out,
                    struct cli_session **session, struct error *err)
{
    struct cli_session *s = xcalloc(1, sizeof(*s));
    struct image_spec is = {0};
    int ret = -1;

    (void)r;
    *out = NULL;
    *session = NULL;
    if (!strncmp(spec, "ssh://", 6)) {
        error_set(err, ERROR_USAGE, 0, "ssh:// destinations are not built yet");
        goto out;
    }
    if (image_spec_parse(spec, 0, &is, err) < 0)
        goto out;
    if (cluster_connect(conf, id, cli_ceph_timeout(), &s->cl, err) < 0)
        goto out;
    *out = dest_local_new(s->cl, is.pool, is.name);
    *session = s;
    s = NULL;
    ret = 0;
out:
    image_spec_release(&is);
    cli_session_free(s);
    return ret;
}

void cli_session_free(struct cli_session *s)
{
    if (!s)
        return;
    cluster_close(s->cl);
    free(s);
}
