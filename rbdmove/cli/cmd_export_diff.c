/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/cli/cmd_export_diff.c: `rbdmove export-diff`, an rbd diff v1 stream
 * of a snapshot that stock `rbd import-diff` accepts.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rbdmove/cli/cli.h"
#include "rbdmove/cli/cli_options.h"
#include "rbdmove/core/cluster.h"
#include "rbdmove/cli/commands.h"
#include "rbdmove/core/copy.h"
#include "rbdmove/core/image.h"
#include "rbdmove/base/log.h"
#include "rbdmove/cli/progress.h"
#include "rbdmove/core/stream.h"
#include "rbdmove/base/strutil.h"
#include "rbdmove/base/xalloc.h"
#include "transport/transport.h"

static const struct cli_command command = {
    "export-diff",
    "[-c CONF] [--id ID] [--from-snap SNAP] POOL/IMAGE@SNAP OUT",
    "Write the changes of a snapshot (since --from-snap, or everything\n"
    "allocated) as an rbd diff v1 stream to OUT ('-' for stdout).",
};

struct export_args {
    const char *conf;
    const char *id;
    const char *from;
    bool whole_object;
    unsigned window;
    enum progress_mode progress;
    const char *spec;
    const char *out;
};

static enum parse_options_status parse(int argc, char **argv,
                                       struct export_args *a)
{
    struct parse_option opts[] = {
        OPT_CLUSTER(&a->conf, &a->id),
        OPT_STRING(0, "from-snap", &a->from, "SNAP",
                   "only what changed since this snapshot"),
        OPT_BOOL(0, "whole-object", &a->whole_object,
                 "list whole objects (fast with fast-diff; more data)"),
        OPT_UINT(0, "window", &a->window, "N", 1, 256,
                 "chunks read in flight (default 8)"),
        OPT_PROGRESS(&a->progress),
        OPT_END(),
    };
    enum parse_options_status st;
    int n;

    st = parse_options(&command, opts, argc, argv, &n);
    if (st != PARSE_OPT_DONE)
        return st;
    if (n != 2)
        return parse_options_error(&command,
                                   "expected POOL/IMAGE@SNAP and OUT");
    if (a->from && !name_is_safe(a->from))
        return parse_options_error(&command, "invalid snapshot name '%s'",
                                   a->from);
    a->spec = argv[0];
    a->out = argv[1];
    return PARSE_OPT_DONE;
}

/*
 * Before any connection: OUT can be written (its directory exists and is
 * writable, and OUT is not a directory). The open itself comes after the
 * connect, so that a cluster that cannot be reached leaves OUT alone.
 */
static int check_output(const char *out, struct error *err)
{
    char *dir, *slash;
    struct stat sb;
    int ret = 0;

    if (!strcmp(out, "-"))
        return 0;
    if (stat(out, &sb) == 0 && S_ISDIR(sb.st_mode))
        return error_set(err, ERROR_USAGE, 0, "'%s' is a directory", out);
    dir = xstrdup(out);
    slash = strrchr(dir, '/');
    if (!slash) {
        free(dir);
        dir = xstrdup(".");
    } else if (slash == dir)
        dir[1] = 0;
    else
        *slash = 0;
    if (stat(dir, &sb) < 0 || !S_ISDIR(sb.st_mode))
        ret = error_set(err, ERROR_USAGE, 0,
                        "cannot write '%s': no directory '%s'", out, dir);
    else if (access(dir, W_OK | X_OK) < 0 &&
             (stat(out, &sb) < 0 || access(out, W_OK) < 0))
        ret = error_set(err, ERROR_USAGE, errno, "cannot write '%s'", out);
    free(dir);
    return ret;
}

static int export_to(struct cluster *cl, const struct export_args *a,
                     const struct image_spec *s, struct transport *t,
                     struct copy_stats *st, struct error *err)
{
    struct stream_header h = {NULL, NULL, false, 0};
    struct image *img = NULL;
    struct copy_params p;
    bool exists = false;
    uint64_t id;
    int ret = -1;

    if (image_open(cl, s->pool, s->name, s->snap, true, &img, err) < 0)
        return -1;
    if (a->from) {
        if (image_snap_lookup(img, a->from, &exists, &id, err) < 0)
            goto out;
        if (!exists) {
            error_set(err, ERROR_STATE, ENOENT,
                      "snapshot '%s/%s@%s' does not exist", s->pool, s->name,
                      a->from);
            goto out;
        }
    }
    copy_params_init(&p);
    p.whole_object = a->whole_object;
    if (a->window)
        p.window = a->window;
    p.progress = progress_callback();
    p.cancel = cli_cancelled;
    h.from_snap = (char *)a->from;
    h.to_snap = s->snap;
    h.has_size = true;
    h.size = image_size(img);
    progress_start("export");
    ret = copy_send(img, a->from, &h, &p, t, st, err);
    progress_stop();
    if (ret == 0)
        ret = transport_close_write(t, err);
out:
    image_close(img);
    return ret;
}

int cmd_export_diff(int argc, char **argv)
{
    struct export_args a = {0};
    struct image_spec s = {0};
    struct error err = ERROR_INIT;
    struct cluster *cl = NULL;
    struct transport *t = NULL;
    struct copy_stats st = {0};
    bool regular = false;
    struct stat sb;
    char b1[32], b2[32];
    enum parse_options_status parsed;
    int ret;

    parsed = parse(argc, argv, &a);
    if (parsed != PARSE_OPT_DONE)
        return parse_options_exit(parsed);
    if (image_spec_parse(a.spec, 1, &s, &err) < 0 ||
        check_output(a.out, &err) < 0) {
        image_spec_release(&s);
        return cli_usage_error(&command, "%s", err.msg);
    }
    progress_setup(a.progress, false);
    cli_install_signals();
    ret = EXIT_FAIL;
    if (cluster_connect(a.conf, a.id, cli_ceph_timeout(), &cl, &err) < 0)
        goto fail;
    if (strcmp(a.out, "-") && (stat(a.out, &sb) < 0 || S_ISREG(sb.st_mode)))
        regular = true;
    if (transport_file_open(a.out, 1, &t, &err) < 0)
        goto fail;
    if (export_to(cl, &a, &s, t, &st, &err) < 0)
        goto fail;
    log_info("exported '%s' since '%s': %s of data, %s of zeros, %" PRIu64
             " bytes of stream in %.1f s",
             a.spec, a.from ? a.from : "creation",
             format_bytes(st.data_bytes, b1, sizeof(b1)),
             format_bytes(st.zero_bytes, b2, sizeof(b2)), st.stream_bytes,
             st.seconds);
    ret = EXIT_OK;
    goto out;
fail:
    ret = cli_report_error(&err);
    /* A partial stream file has no end record and would be refused, but
     * leaving it looks like a result: remove it. */
    if (regular && t)
        unlink(a.out);
out:
    transport_free(t);
    cluster_close(cl);
    image_spec_release(&s);
    return ret;
}
