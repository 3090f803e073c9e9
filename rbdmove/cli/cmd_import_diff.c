/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/cli/cmd_import_diff.c: `rbdmove import-diff`, applying any stream
 * `rbd export-diff` writes, with its rules: the start snapshot must exist,
 * the end snapshot must not, and the end snapshot is created only after
 * every write is complete. Writes are applied in parallel.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

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
#include "transport/transport.h"

static const struct cli_command command = {
    "import-diff",
    "[-c CONF] [--id ID] [--allow-shrink] IN POOL/IMAGE",
    "Apply an rbd diff v1 stream from IN ('-' for stdin) to an existing\n"
    "image, then create the stream's end snapshot.",
};

struct import_args {
    const char *conf;
    const char *id;
    bool allow_shrink;
    unsigned window;
    enum progress_mode progress;
    const char *in;
    const char *spec;
};

static enum parse_options_status parse(int argc, char **argv,
                                       struct import_args *a)
{
    struct parse_option opts[] = {
        OPT_CLUSTER(&a->conf, &a->id),
        OPT_BOOL(0, "allow-shrink", &a->allow_shrink,
                 "let the stream's size record shrink the image"),
        OPT_UINT(0, "window", &a->window, "N", 1, 256,
                 "chunks written in flight (default 8)"),
        OPT_PROGRESS(&a->progress),
        OPT_END(),
    };
    enum parse_options_status st;
    int n;

    st = parse_options(&command, opts, argc, argv, &n);
    if (st != PARSE_OPT_DONE)
        return st;
    if (n != 2)
        return parse_options_error(&command, "expected IN and POOL/IMAGE");
    a->in = argv[0];
    a->spec = argv[1];
    return PARSE_OPT_DONE;
}

/* The checks rbd import-diff makes before it writes anything. */
static int check_header(struct image *img, const struct stream_header *h,
                        bool allow_shrink, struct error *err)
{
    bool exists = false;
    uint64_t id;

    if (h->from_snap) {
        if (image_snap_lookup(img, h->from_snap, &exists, &id, err) < 0)
            return -1;
        if (!exists)
            return error_set(err, ERROR_STATE, ENOENT,
                             "start snapshot '%s' does not exist in '%s'",
                             h->from_snap, image_name(img));
    }
    if (h->to_snap) {
        if (image_snap_lookup(img, h->to_snap, &exists, &id, err) < 0)
            return -1;
        if (exists)
            return error_set(err, ERROR_STATE, EEXIST,
                             "end snapshot '%s' already exists in '%s'",
                             h->to_snap, image_name(img));
    }
    if (h->has_size && h->size != image_size(img))
        return image_resize(img, h->size, allow_shrink, err);
    return 0;
}

/*
 * Apply the stream whose header was read (and checked as far as it can be
 * without the image) to img, then create its end snapshot.
 */
static int import_from(struct image *img, struct stream_reader *r,
                       const struct stream_header *h,
                       const struct import_args *a, struct copy_stats *st,
                       struct error *err)
{
    struct copy_params p;
    bool started = false;
    int ret = -1;

    if (check_header(img, h, a->allow_shrink, err) < 0)
        goto out;
    copy_params_init(&p);
    if (a->window)
        p.window = a->window;
    p.progress = progress_callback();
    p.cancel = cli_cancelled;
    progress_start("import");
    started = true;
    ret = copy_apply(img, r, &p, 0, st, err);
    progress_stop();
    if (ret < 0)
        goto out;
    /* Every write is flushed: only now may the end snapshot exist. */
    ret = h->to_snap ? image_snap_create(img, h->to_snap, err) : 0;
out:
    if (ret < 0 && started && err->kind != ERROR_INTERRUPTED)
        error_prefix(err,
                     "nothing was snapshotted: '%s' holds a partial "
                     "import",
                     image_name(img));
    return ret;
}

int cmd_import_diff(int argc, char **argv)
{
    struct import_args a = {0};
    struct image_spec s = {0};
    struct error err = ERROR_INIT;
    struct cluster *cl = NULL;
    struct transport *t = NULL;
    struct stream_reader *r = NULL;
    struct stream_header h = {NULL, NULL, false, 0};
    struct image *img = NULL;
    struct copy_stats st = {0};
    char b1[32], b2[32];
    enum parse_options_status parsed;
    int ret;

    parsed = parse(argc, argv, &a);
    if (parsed != PARSE_OPT_DONE)
        return parse_options_exit(parsed);
    if (image_spec_parse(a.spec, 0, &s, &err) < 0)
        return cli_usage_error(&command, "%s", err.msg);
    progress_setup(a.progress, false);
    cli_install_signals();
    /* The stream's header is read before any connection: a file that is
     * not an rbd diff v1 stream is refused at once. */
    if (transport_file_open(a.in, 0, &t, &err) < 0)
        goto fail;
    r = stream_reader_new(t);
    if (stream_read_header(r, &h, &err) < 0 ||
        cluster_connect(a.conf, a.id, cli_ceph_timeout(), &cl, &err) < 0 ||
        image_open(cl, s.pool, s.name, NULL, false, &img, &err) < 0 ||
        import_from(img, r, &h, &a, &st, &err) < 0)
        goto fail;
    log_info("imported into '%s': %s of data, %s of zeros in %.1f s", a.spec,
             format_bytes(st.data_bytes, b1, sizeof(b1)),
             format_bytes(st.zero_bytes, b2, sizeof(b2)), st.seconds);
    ret = EXIT_OK;
    goto out;
fail:
    ret = cli_report_error(&err);
out:
    image_close(img);
    cluster_close(cl);
    stream_header_release(&h);
    stream_reader_free(r);
    transport_free(t);
    image_spec_release(&s);
    return ret;
}
