/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/cli/cli_remote.c: destination arguments into struct dest.
 */
#include "rbdmove/cli/cli_remote.h"

#include <stdlib.h>
#include <string.h>

#include "rbdmove/cli/cli.h"
#include "rbdmove/core/cluster.h"
#include "rbdmove/core/dest.h"
#include "rbdmove/core/image.h"
#include "rbdmove/base/log.h"
#include "rbdmove/base/xalloc.h"
#include "transport/ssh.h"

struct cli_session {
    struct cluster *cl;
    struct transport_ssh_target target;
    struct transport_ssh_options ssh;
    char *remote_rbdmove;
};

/* dest_remote_exec_hint_fn: command over a new SSH session, telling
 * verified (if any) when the host's key is verified. */
static int ssh_exec_hint(void *ctx, const char *command,
                         dest_remote_verified_fn *verified, void *arg,
                         struct transport **out, struct error *err)
{
    struct cli_session *s = ctx;
    struct transport_ssh_options o = s->ssh;

    o.verified = verified;
    o.verified_arg = arg;
    return transport_ssh_exec(&s->target, &o, command, out, err);
}

/* dest_remote_exec_fn: the same, nobody told. */
static int ssh_exec(void *ctx, const char *command, struct transport **out,
                    struct error *err)
{
    return ssh_exec_hint(ctx, command, NULL, NULL, out, err);
}

/* dest_remote_stream_fn: straight to the socket, else command. */
static int ssh_stream(void *ctx, dest_remote_await_fn *await, void *await_arg,
                      struct transport **out, bool *direct, struct error *err)
{
    struct cli_session *s = ctx;

    return transport_ssh_open_socket_await(&s->target, &s->ssh, await,
                                           await_arg, out, direct, err);
}

/* A path or program name for the remote command line: printable, no
 * newline; it is quoted anyway. */
static bool arg_is_printable(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    }
    return true;
}

/* --receiver=rbd: the stock rbd CLI on HOST, one stream. */
static int rbd_dest(const struct cli_remote *r, const char *spec,
                    const char *conf, const char *id, struct cli_session *s,
                    const struct image_spec *is, struct dest **out,
                    struct error *err)
{
    struct dest_rbdcli_params p = {ssh_exec, s, r->bwlimit};

    if (r->streams > 1)
        log_warn("--streams does not apply with --receiver=rbd: one stream "
                 "into 'rbd import-diff'");
    if (r->compress_level)
        log_warn("--compress does not apply with --receiver=rbd: 'rbd "
                 "import-diff' reads a plain stream");
    return dest_rbdcli_open(&p, spec, conf, id, is->pool, is->name, out, err);
}

/* "ssh://[USER@]HOST[:PORT]/POOL/IMAGE" */
static int remote_dest(const struct cli_remote *r, const char *spec,
                       const char *conf, const char *id, struct cli_session *s,
                       struct dest **out, struct error *err)
{
    const char *rest = spec + 6;
    const char *slash = strchr(rest, '/');
    struct dest_remote_params p;
    struct image_spec is = {0};
    char *authority = NULL;
    int ret = -1;

    if (!slash || slash == rest)
        return error_set(err, ERROR_USAGE, 0,
                         "'%s' is not ssh://[USER@]HOST[:PORT]/POOL/IMAGE",
                         spec);
    authority = xstrndup(rest, (size_t)(slash - rest));
    if (transport_ssh_target_parse(authority, &s->target, err) < 0 ||
        image_spec_parse(slash + 1, 0, &is, err) < 0)
        goto out;
    if (!arg_is_printable(r->remote_rbdmove) ||
        (conf && !arg_is_printable(conf))) {
        error_set(err, ERROR_USAGE, 0,
                  "--remote-rbdmove and --dst-conf must be printable");
        goto out;
    }
    s->remote_rbdmove = xstrdup(r->remote_rbdmove);
    s->ssh.identity = r->identity;
    s->ssh.known_hosts = r->known_hosts;
    s->ssh.accept_new_host_key = r->accept_new_host_key;
    /* Milliseconds in an int: more than a day was an overflow, not a
     * timeout. */
    if (r->timeout > 86400) {
        error_set(err, ERROR_USAGE, 0,
                  "--ssh-timeout %.0f: at most 86400 seconds", r->timeout);
        goto out;
    }
    s->ssh.timeout_ms = (int)((r->timeout < 1 ? 1 : r->timeout) * 1000);
    if (r->receiver_rbd) {
        ret = rbd_dest(r, spec, conf, id, s, &is, out, err);
        goto out;
    }
    memset(&p, 0, sizeof(p));
    p.exec = ssh_exec;
    p.exec_hint = ssh_exec_hint;
    p.stream = ssh_stream;
    p.exec_ctx = s;
    p.program = s->remote_rbdmove;
    p.streams = r->streams;
    p.compress_level = (int)r->compress_level;
    p.bwlimit = r->bwlimit;
    ret = dest_remote_open(&p, spec, conf, id, is.pool, is.name, out, err);
out:
    free(authority);
    image_spec_release(&is);
    return ret;
}

void cli_remote_init(struct cli_remote *r)
{
    memset(r, 0, sizeof(*r));
    r->remote_rbdmove = "rbdmove";
    r->streams = 0; /* automatic: dest_remote.c */
    r->timeout = 30;
}

int cli_remote_check(const struct cli_remote *r, const char *spec,
                     const char *conf, struct error *err)
{
    struct transport_ssh_target t = TRANSPORT_SSH_TARGET_INIT;
    struct image_spec is = {0};
    const char *rest, *slash;
    char *authority;
    int ret;

    if (r->timeout > 86400)
        return error_set(err, ERROR_USAGE, 0,
                         "--ssh-timeout %.0f: at most 86400 seconds",
                         r->timeout);
    if (strncmp(spec, "ssh://", 6)) {
        ret = image_spec_parse(spec, 0, &is, err);
        image_spec_release(&is);
        return ret;
    }
    rest = spec + 6;
    slash = strchr(rest, '/');
    if (!slash || slash == rest)
        return error_set(err, ERROR_USAGE, 0,
                         "'%s' is not ssh://[USER@]HOST[:PORT]/POOL/IMAGE",
                         spec);
    if (!arg_is_printable(r->remote_rbdmove) ||
        (conf && !arg_is_printable(conf)))
        return error_set(err, ERROR_USAGE, 0,
                         "--remote-rbdmove and --dst-conf must be printable");
    authority = xstrndup(rest, (size_t)(slash - rest));
    ret = transport_ssh_target_parse(authority, &t, err) < 0 ||
                  image_spec_parse(slash + 1, 0, &is, err) < 0
              ? -1
              : 0;
    free(authority);
    transport_ssh_target_release(&t);
    image_spec_release(&is);
    return ret;
}

int cli_remote_dest(const struct cli_remote *r, const char *spec,
                    const char *conf, const char *id, struct dest **out,
                    struct cli_session **session, struct error *err)
{
    struct cli_session *s = xcalloc(1, sizeof(*s));
    struct image_spec is = {0};
    int ret = -1;

    s->target = (struct transport_ssh_target)TRANSPORT_SSH_TARGET_INIT;

    *out = NULL;
    *session = NULL;
    if (!strncmp(spec, "ssh://", 6)) {
        if (remote_dest(r, spec, conf, id, s, out, err) < 0)
            goto out;
        *session = s;
        s = NULL;
        ret = 0;
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

struct cluster *cli_session_cluster(const struct cli_session *s)
{
    return s ? s->cl : NULL;
}

void cli_session_free(struct cli_session *s)
{
    if (!s)
        return;
    cluster_close(s->cl);
    transport_ssh_target_release(&s->target);
    free(s->remote_rbdmove);
    free(s);
}
