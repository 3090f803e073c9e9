/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/core/dest_rbdcli.c: a destination on a host that has the stock rbd
 * CLI but no rbdmove (--receiver=rbd, the compatibility mode).
 *
 * Every operation is one or a few `rbd` commands run there through the
 * exec callback (an SSH exec channel per command): JSON output is read
 * with jansson (rbdmove/base/json.h), and a transfer is one plain rbd diff v1
 * stream (from-snap and size, never a to-snap) piped into `rbd import-diff -`.
 * The rules that replicate.c relies on hold as with dest_local: the snapshot
 * that ends a round is created by a separate request after import-diff exited
 * 0, so a dropped connection never leaves a to-snap behind.
 *
 * What this mode gives up, by the nature of the rbd CLI: one stream (no
 * parallel sessions, no compression), one write at a time on the far side
 * (import-diff from a pipe), no exclusive lock held across the run, a
 * fresh SSH session and rbd process per request (a round costs about a
 * dozen of them), and a verify that reads the whole snapshot back with
 * `rbd export` (zeros included) to hash it here: slow but exact.
 *
 * Everything placed on the remote command line is validated first (names
 * with name_is_safe, paths and metadata values as printable text that
 * cannot pass for an option) and then shell-quoted.
 */
#include "rbdmove/core/dest.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "rbdmove/base/buf.h"
#include "rbdmove/core/copy.h"
#include "rbdmove/base/hash.h"
#include "rbdmove/core/image.h"
#include "rbdmove/base/json.h"
#include "rbdmove/base/log.h"
#include "rbdmove/core/stream.h"
#include "rbdmove/base/strutil.h"
#include "rbdmove/base/xalloc.h"
#include "transport/transport.h"

/* Largest JSON answer we accept (a pool listing, an extent list). */
#define RBDCLI_JSON_MAX (64u << 20)
/* Longest metadata value we pass on a command line. */
#define RBDCLI_META_MAX 4096

struct dest_rbdcli {
    struct dest base;
    struct dest_rbdcli_params p;
    char *conf; /* NULL: the host's default */
    char *id;   /* NULL: the host's default (admin) */
    char *pool;
    char *image;
};

/* ---- command lines -------------------------------------------------------
 */

static void add_arg(struct buf *b, const char *s)
{
    buf_adds(b, " ");
    buf_add_shell_quoted(b, s);
}

/* "rbd [-c CONF] [--id ID] VERB": verb is a literal of ours. */
static void cmd_start(const struct dest_rbdcli *d, struct buf *b,
                      const char *verb)
{
    buf_adds(b, "rbd");
    if (d->conf) {
        buf_adds(b, " -c");
        add_arg(b, d->conf);
    }
    if (d->id) {
        buf_adds(b, " --id");
        add_arg(b, d->id);
    }
    buf_adds(b, " ");
    buf_adds(b, verb);
}

/* The image, or a snapshot of it, as the last argument. */
static void add_spec(const struct dest_rbdcli *d, struct buf *b,
                     const char *snap)
{
    struct buf s = BUF_INIT;

    buf_addf(&s, "%s/%s", d->pool, d->image);
    if (snap)
        buf_addf(&s, "@%s", snap);
    add_arg(b, buf_str(&s));
    buf_release(&s);
}

/* Text for the remote command line: printable ASCII, not an option. */
static bool text_is_safe(const char *s, size_t max)
{
    size_t n = 0;

    if (!s || !*s || s[0] == '-')
        return false;
    for (; s[n]; n++) {
        if ((unsigned char)s[n] < 0x20 || (unsigned char)s[n] > 0x7e)
            return false;
    }
    return n <= max;
}

static int check_name(const struct dest_rbdcli *d, const char *what,
                      const char *s, struct error *err)
{
    if (name_is_safe(s))
        return 0;
    return error_set(err, ERROR_USAGE, 0,
                     "refusing %s '%s' for '%s': only [A-Za-z0-9._-] may "
                     "reach the remote command line",
                     what, s, d->base.name);
}

/* ---- running commands ----------------------------------------------------
 */

/*
 * Run cmd there with no input; collect its stdout (at most max bytes) into
 * out when out is not NULL. what names the command in errors ("rbd info").
 */
static int run(struct dest_rbdcli *d, const char *cmd, const char *what,
               struct buf *out, size_t max, struct error *err)
{
    struct transport *t = NULL;
    char chunk[16384];
    int ret = -1;

    log_debug("on %s: %s", d->base.name, cmd);
    if (d->p.exec(d->p.exec_ctx, cmd, &t, err) < 0)
        return -1;
    if (transport_close_write(t, err) < 0)
        goto out;
    while (out) {
        ssize_t n = transport_read(t, chunk, sizeof(chunk), err);

        if (n < 0)
            goto out;
        if (n == 0)
            break;
        if (out->len + (size_t)n > max) {
            error_set(err, ERROR_PROTOCOL, 0, "answer longer than %zu bytes",
                      max);
            goto out;
        }
        buf_add(out, chunk, (size_t)n);
    }
    if (transport_finish(t, err) < 0)
        goto out;
    ret = 0;
out:
    if (ret < 0)
        error_prefix(err, "%s for '%s'", what, d->base.name);
    transport_free(t);
    return ret;
}

static bool is_blank(const struct buf *b)
{
    for (size_t i = 0; i < b->len; i++) {
        char c = b->data[i];

        if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
            return false;
    }
    return true;
}

/* Run cmd and parse its stdout as JSON; empty output is *out = NULL when
 * empty_ok (rbd image-meta list prints nothing for no keys). */
static int run_json(struct dest_rbdcli *d, const char *cmd, const char *what,
                    bool empty_ok, json_t **out, struct error *err)
{
    struct buf text = BUF_INIT;
    char *source = NULL;
    int ret = -1;

    *out = NULL;
    if (run(d, cmd, what, &text, RBDCLI_JSON_MAX, err) < 0)
        goto out;
    if (empty_ok && is_blank(&text)) {
        ret = 0;
        goto out;
    }
    source = xasprintf("the output of %s for '%s'", what, d->base.name);
    if (jsonx_parse(buf_str(&text), text.len, source, out, err) < 0)
        goto out;
    ret = 0;
out:
    free(source);
    buf_release(&text);
    return ret;
}

static int bad_answer(struct dest_rbdcli *d, const char *what,
                      const char *field, struct error *err)
{
    return error_set(err, ERROR_PROTOCOL, 0,
                     "unexpected output of %s for '%s': no valid '%s'", what,
                     d->base.name, field);
}

static int get_u64(struct dest_rbdcli *d, const char *what, const json_t *obj,
                   const char *key, uint64_t *out, struct error *err)
{
    if (!jsonx_get_u64(obj, key, out))
        return bad_answer(d, what, key, err);
    return 0;
}

/* ---- probe ---------------------------------------------------------------
 */

/* `rbd ls`: asking `rbd info` about a missing image would fill the log
 * with the remote's complaint. */
static int image_listed(struct dest_rbdcli *d, bool *exists, struct error *err)
{
    struct buf cmd = BUF_INIT;
    json_t *ls = NULL;
    int ret = -1;

    *exists = false;
    cmd_start(d, &cmd, "ls --format json");
    add_arg(&cmd, d->pool);
    if (run_json(d, buf_str(&cmd), "rbd ls", false, &ls, err) < 0)
        goto out;
    if (!json_is_array(ls)) {
        bad_answer(d, "rbd ls", "image list", err);
        goto out;
    }
    for (size_t i = 0; i < json_array_size(ls); i++) {
        const char *name = json_string_value(json_array_get(ls, i));

        if (name && !strcmp(name, d->image))
            *exists = true;
    }
    ret = 0;
out:
    json_decref(ls);
    buf_release(&cmd);
    return ret;
}

/* `rbd info` of the image or a snapshot: size, order, id. */
static int image_info(struct dest_rbdcli *d, const char *snap, uint64_t *size,
                      int *order, char **id, struct error *err)
{
    struct buf cmd = BUF_INIT;
    json_t *info = NULL;
    uint64_t o = 0;
    int ret = -1;

    cmd_start(d, &cmd, "info --format json");
    add_spec(d, &cmd, snap);
    if (run_json(d, buf_str(&cmd), "rbd info", false, &info, err) < 0 ||
        get_u64(d, "rbd info", info, "size", size, err) < 0 ||
        get_u64(d, "rbd info", info, "order", &o, err) < 0)
        goto out;
    if (o < 12 || o > 26) {
        bad_answer(d, "rbd info", "order", err);
        goto out;
    }
    if (order)
        *order = (int)o;
    if (id) {
        const char *s = jsonx_get_string(info, "id");

        if (!s) {
            bad_answer(d, "rbd info", "id", err);
            goto out;
        }
        *id = xstrdup(s);
    }
    ret = 0;
out:
    json_decref(info);
    buf_release(&cmd);
    return ret;
}

/* `rbd image-meta list`: *meta is NULL when the image has no keys. */
static int meta_list(struct dest_rbdcli *d, json_t **meta, struct error *err)
{
    struct buf cmd = BUF_INIT;
    int ret;

    cmd_start(d, &cmd, "image-meta list --format json");
    add_spec(d, &cmd, NULL);
    ret = run_json(d, buf_str(&cmd), "rbd image-meta list", true, meta, err);
    if (ret == 0 && *meta && !json_is_object(*meta)) {
        json_decref(*meta);
        *meta = NULL;
        ret = bad_answer(d, "rbd image-meta list", "key list", err);
    }
    buf_release(&cmd);
    return ret;
}

static char *meta_dup(const json_t *meta, const char *key)
{
    return xstrdup(jsonx_get_string(meta, key));
}

static int snap_list(struct dest_rbdcli *d, struct image_snap **out, size_t *n,
                     struct error *err)
{
    static const char what[] = "rbd snap ls";
    struct buf cmd = BUF_INIT;
    json_t *ls = NULL;
    struct image_snap *snaps = NULL;
    size_t count = 0;
    int ret = -1;

    *out = NULL;
    *n = 0;
    cmd_start(d, &cmd, "snap ls --format json");
    add_spec(d, &cmd, NULL);
    if (run_json(d, buf_str(&cmd), what, false, &ls, err) < 0)
        goto out;
    if (!json_is_array(ls)) {
        bad_answer(d, what, "snapshot list", err);
        goto out;
    }
    snaps = xcalloc(json_array_size(ls) + 1, sizeof(*snaps));
    for (; count < json_array_size(ls); count++) {
        const json_t *s = json_array_get(ls, count);
        const char *name = jsonx_get_string(s, "name");

        if (!name) {
            bad_answer(d, what, "name", err);
            goto out;
        }
        if (get_u64(d, what, s, "id", &snaps[count].id, err) < 0 ||
            get_u64(d, what, s, "size", &snaps[count].size, err) < 0)
            goto out;
        snaps[count].name = xstrdup(name);
    }
    *out = snaps;
    *n = count;
    snaps = NULL;
    ret = 0;
out:
    image_snaps_free(snaps, count);
    json_decref(ls);
    buf_release(&cmd);
    return ret;
}

static int rbdcli_probe(struct dest *dd, struct dest_state *st,
                        struct error *err)
{
    struct dest_rbdcli *d = (struct dest_rbdcli *)dd;
    json_t *meta = NULL;
    int ret = -1;

    memset(st, 0, sizeof(*st));
    if (image_listed(d, &st->exists, err) < 0)
        return -1;
    if (!st->exists)
        return 0;
    if (image_info(d, NULL, &st->size, &st->order, &st->image_id, err) < 0 ||
        meta_list(d, &meta, err) < 0 ||
        snap_list(d, &st->snaps, &st->nsnaps, err) < 0)
        goto out;
    st->meta_base = meta_dup(meta, DEST_META_BASE);
    st->meta_seed = meta_dup(meta, DEST_META_SEED);
    st->meta_pending = meta_dup(meta, DEST_META_PENDING);
    ret = 0;
out:
    if (ret < 0)
        dest_state_release(st);
    json_decref(meta);
    return ret;
}

/* ---- simple changes ------------------------------------------------------
 */

static int rbdcli_create(struct dest *dd, uint64_t size, int order,
                         struct error *err)
{
    struct dest_rbdcli *d = (struct dest_rbdcli *)dd;
    struct buf cmd = BUF_INIT;
    int ret;

    if (order < 12 || order > 26)
        return error_set(err, ERROR_USAGE, 0, "invalid object order %d", order);
    cmd_start(d, &cmd, "create");
    buf_addf(&cmd, " --size %" PRIu64 "B --object-size %" PRIu64, size,
             (uint64_t)1 << order);
    add_spec(d, &cmd, NULL);
    ret = run(d, buf_str(&cmd), "rbd create", NULL, 0, err);
    buf_release(&cmd);
    return ret;
}

static int rbdcli_resize(struct dest *dd, uint64_t size, struct error *err)
{
    struct dest_rbdcli *d = (struct dest_rbdcli *)dd;
    struct buf cmd = BUF_INIT;
    int ret;

    cmd_start(d, &cmd, "resize --allow-shrink --no-progress");
    buf_addf(&cmd, " --size %" PRIu64 "B", size);
    add_spec(d, &cmd, NULL);
    ret = run(d, buf_str(&cmd), "rbd resize", NULL, 0, err);
    buf_release(&cmd);
    return ret;
}

/* A missing key is not an error (as image_meta_remove): look first, so
 * that the remote's complaint about a missing key never reaches the log. */
static int meta_remove(struct dest_rbdcli *d, const char *key,
                       struct error *err)
{
    json_t *meta = NULL;
    struct buf cmd = BUF_INIT;
    int ret = -1;

    if (meta_list(d, &meta, err) < 0)
        return -1;
    if (!json_object_get(meta, key)) {
        ret = 0;
        goto out;
    }
    cmd_start(d, &cmd, "image-meta remove");
    add_spec(d, &cmd, NULL);
    add_arg(&cmd, key);
    ret = run(d, buf_str(&cmd), "rbd image-meta remove", NULL, 0, err);
out:
    json_decref(meta);
    buf_release(&cmd);
    return ret;
}

static int rbdcli_set_meta(struct dest *dd, const char *key, const char *value,
                           struct error *err)
{
    struct dest_rbdcli *d = (struct dest_rbdcli *)dd;
    struct buf cmd = BUF_INIT;
    int ret;

    if (check_name(d, "metadata key", key, err) < 0)
        return -1;
    if (!value)
        return meta_remove(d, key, err);
    if (!text_is_safe(value, RBDCLI_META_MAX))
        return error_set(err, ERROR_USAGE, 0,
                         "refusing a value of '%s' for '%s' on the remote "
                         "command line: not printable text",
                         key, d->base.name);
    cmd_start(d, &cmd, "image-meta set");
    add_spec(d, &cmd, NULL);
    add_arg(&cmd, key);
    add_arg(&cmd, value);
    ret = run(d, buf_str(&cmd), "rbd image-meta set", NULL, 0, err);
    buf_release(&cmd);
    return ret;
}

static int rbdcli_snap_create(struct dest *dd, const char *name,
                              struct error *err)
{
    struct dest_rbdcli *d = (struct dest_rbdcli *)dd;
    struct buf cmd = BUF_INIT;
    int ret;

    if (check_name(d, "snapshot name", name, err) < 0)
        return -1;
    cmd_start(d, &cmd, "snap create --no-progress");
    add_spec(d, &cmd, name);
    ret = run(d, buf_str(&cmd), "rbd snap create", NULL, 0, err);
    buf_release(&cmd);
    return ret;
}

/* A missing snapshot is not an error (as image_snap_remove). */
static int rbdcli_snap_remove(struct dest *dd, const char *name,
                              struct error *err)
{
    struct dest_rbdcli *d = (struct dest_rbdcli *)dd;
    struct image_snap *snaps = NULL;
    struct buf cmd = BUF_INIT;
    size_t n = 0;
    bool found = false;
    int ret = -1;

    if (check_name(d, "snapshot name", name, err) < 0)
        return -1;
    if (snap_list(d, &snaps, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        found = found || !strcmp(snaps[i].name, name);
    ret = 0;
    if (found) {
        cmd_start(d, &cmd, "snap rm --no-progress");
        add_spec(d, &cmd, name);
        ret = run(d, buf_str(&cmd), "rbd snap rm", NULL, 0, err);
    }
    image_snaps_free(snaps, n);
    buf_release(&cmd);
    return ret;
}

/* ---- dirty extents -------------------------------------------------------
 */

static int add_extent(struct dest_rbdcli *d, const json_t *e,
                      struct dest_extents *x, struct error *err)
{
    static const char what[] = "rbd diff";
    uint64_t off = 0, len = 0;

    if (get_u64(d, what, e, "offset", &off, err) < 0 ||
        get_u64(d, what, e, "length", &len, err) < 0)
        return -1;
    if (len == 0 || off + len < off)
        return bad_answer(d, what, "length", err);
    /* replicate.c compares extent lists that must be ascending */
    if (x->n > 0 && off < x->off[x->n - 1] + x->len[x->n - 1])
        return error_set(err, ERROR_PROTOCOL, 0,
                         "%s for '%s' listed extents out of order at %" PRIu64,
                         what, d->base.name, off);
    x->off[x->n] = off;
    x->len[x->n] = len;
    x->n++;
    return 0;
}

static int rbdcli_dirty(struct dest *dd, const char *since,
                        struct dest_extents *x, struct error *err)
{
    struct dest_rbdcli *d = (struct dest_rbdcli *)dd;
    struct buf cmd = BUF_INIT;
    json_t *ls = NULL;
    int ret = -1;

    memset(x, 0, sizeof(*x));
    if (since && check_name(d, "snapshot name", since, err) < 0)
        return -1;
    cmd_start(d, &cmd, "diff --whole-object --format json");
    if (since) {
        buf_adds(&cmd, " --from-snap");
        add_arg(&cmd, since);
    }
    add_spec(d, &cmd, NULL);
    if (run_json(d, buf_str(&cmd), "rbd diff", false, &ls, err) < 0)
        goto out;
    if (!json_is_array(ls)) {
        bad_answer(d, "rbd diff", "extent list", err);
        goto out;
    }
    x->off = xcalloc(json_array_size(ls) + 1, sizeof(*x->off));
    x->len = xcalloc(json_array_size(ls) + 1, sizeof(*x->len));
    for (size_t i = 0; i < json_array_size(ls); i++) {
        if (add_extent(d, json_array_get(ls, i), x, err) < 0)
            goto out;
    }
    ret = 0;
out:
    if (ret < 0)
        dest_extents_release(x);
    json_decref(ls);
    buf_release(&cmd);
    return ret;
}

/* ---- transfer ------------------------------------------------------------
 */

/*
 * The stream failed while going out. When the reason is the remote side
 * (import-diff refused the stream and exited, closing the channel), its
 * exit status and stderr say more than the broken pipe: prefer them.
 */
static void explain_send_failure(struct dest_rbdcli *d, struct transport *t,
                                 struct error *err)
{
    struct error why = ERROR_INIT;

    if (err->kind != ERROR_SSH && err->kind != ERROR_IO)
        return;
    if (transport_finish(t, &why) < 0 && why.kind == ERROR_STATE) {
        *err = why;
        error_prefix(err, "rbd import-diff for '%s'", d->base.name);
    }
}

static int rbdcli_transfer(struct dest *dd, struct image *src,
                           const char *from_snap, const struct copy_params *p,
                           struct copy_stats *st, struct error *err)
{
    struct dest_rbdcli *d = (struct dest_rbdcli *)dd;
    struct stream_header h = {NULL, NULL, true, image_size(src)};
    struct copy_params one = *p;
    struct transport *t = NULL;
    struct buf cmd = BUF_INIT;
    int ret = -1;

    memset(st, 0, sizeof(*st));
    if (from_snap && check_name(d, "snapshot name", from_snap, err) < 0)
        return -1;
    h.from_snap = (char *)from_snap;
    /* One stream; and nothing is durable before import-diff exits. */
    one.claims = NULL;
    one.checkpoint = NULL;
    cmd_start(d, &cmd, "import-diff --no-progress -");
    add_spec(d, &cmd, NULL);
    log_debug("on %s: %s", d->base.name, buf_str(&cmd));
    if (d->p.exec(d->p.exec_ctx, buf_str(&cmd), &t, err) < 0)
        goto out;
    if (d->p.bwlimit)
        t = transport_ratelimit_new(t, d->p.bwlimit, true);
    if (copy_send(src, from_snap, &h, &one, t, st, err) < 0) {
        explain_send_failure(d, t, err);
        goto out;
    }
    if (transport_close_write(t, err) < 0 || transport_finish(t, err) < 0) {
        error_prefix(err, "rbd import-diff for '%s'", d->base.name);
        goto out;
    }
    ret = 0;
out:
    transport_free(t);
    buf_release(&cmd);
    return ret;
}

/* ---- hash ----------------------------------------------------------------
 */

/* Fill buf with up to len bytes; *got < len only at end of stream. */
static int read_block(struct transport *t, char *buf, size_t len, size_t *got,
                      struct error *err)
{
    *got = 0;
    while (*got < len) {
        ssize_t n = transport_read(t, buf + *got, len - *got, err);

        if (n < 0)
            return -1;
        if (n == 0)
            break;
        *got += (size_t)n;
    }
    return 0;
}

/* Hash the stream of `rbd export` block by block, as verify_hash_image
 * does (the same function over the same bytes). */
static int hash_export(struct dest_rbdcli *d, struct transport *t, char *buf,
                       struct dest_hashes *h, struct error *err)
{
    uint64_t off = 0;
    size_t extra = 0;

    for (uint64_t i = 0; i < h->nblocks; i++) {
        size_t want =
            (size_t)(h->size - off < h->block ? h->size - off : h->block);
        size_t got = 0;

        if (read_block(t, buf, want, &got, err) < 0)
            return -1;
        if (got < want)
            return error_set(err, ERROR_PROTOCOL, 0,
                             "rbd export for '%s' ended at byte %" PRIu64
                             " of %" PRIu64,
                             d->base.name, off + got, h->size);
        h->hash[i] = hash_xxh64(buf, got, 0);
        off += got;
    }
    if (read_block(t, buf, 1, &extra, err) < 0)
        return -1;
    if (extra)
        return error_set(err, ERROR_PROTOCOL, 0,
                         "rbd export for '%s' sent more than %" PRIu64 " bytes",
                         d->base.name, h->size);
    return 0;
}

static int rbdcli_hash(struct dest *dd, const char *snap, uint64_t block,
                       struct dest_hashes *out, struct error *err)
{
    struct dest_rbdcli *d = (struct dest_rbdcli *)dd;
    struct dest_hashes h = {block, 0, 0, NULL};
    struct transport *t = NULL;
    struct buf cmd = BUF_INIT;
    char *buf = NULL;
    int ret = -1;

    memset(out, 0, sizeof(*out));
    if (check_name(d, "snapshot name", snap, err) < 0)
        return -1;
    if (block == 0 || block > (64u << 20))
        return error_set(err, ERROR_USAGE, 0, "invalid hash block size");
    if (image_info(d, snap, &h.size, NULL, NULL, err) < 0)
        return -1;
    h.nblocks = (h.size + block - 1) / block;
    h.hash = xcalloc(h.nblocks + 1, sizeof(*h.hash));
    buf = malloc(block);
    if (!buf) {
        error_set(err, ERROR_IO, ENOMEM, "cannot allocate a hash buffer");
        goto out;
    }
    cmd_start(d, &cmd, "export --no-progress");
    add_spec(d, &cmd, snap);
    buf_adds(&cmd, " -");
    log_debug("on %s: %s", d->base.name, buf_str(&cmd));
    if (d->p.exec(d->p.exec_ctx, buf_str(&cmd), &t, err) < 0)
        goto out;
    if (d->p.bwlimit)
        t = transport_ratelimit_new(t, d->p.bwlimit, true);
    if (transport_close_write(t, err) < 0 ||
        hash_export(d, t, buf, &h, err) < 0 || transport_finish(t, err) < 0) {
        error_prefix(err, "rbd export of '%s@%s'", d->base.name, snap);
        goto out;
    }
    *out = h;
    h.hash = NULL;
    ret = 0;
out:
    transport_free(t);
    free(h.hash);
    free(buf);
    buf_release(&cmd);
    return ret;
}

/* ---- lifetime ------------------------------------------------------------
 */

static void rbdcli_free(struct dest *dd)
{
    struct dest_rbdcli *d = (struct dest_rbdcli *)dd;

    free(d->conf);
    free(d->id);
    free(d->pool);
    free(d->image);
    free(d);
}

static const struct dest_ops rbdcli_ops = {
    .probe = rbdcli_probe,
    .create = rbdcli_create,
    .resize = rbdcli_resize,
    .set_meta = rbdcli_set_meta,
    .snap_create = rbdcli_snap_create,
    .snap_remove = rbdcli_snap_remove,
    .dirty = rbdcli_dirty,
    .transfer = rbdcli_transfer,
    .hash = rbdcli_hash,
    .free = rbdcli_free,
};

/* `rbd --version`: proves the connection and that rbd is there. */
static int check_rbd(struct dest_rbdcli *d, struct error *err)
{
    struct buf cmd = BUF_INIT;
    struct buf ver = BUF_INIT;
    int ret;

    cmd_start(d, &cmd, "--version");
    ret = run(d, buf_str(&cmd), "rbd --version", &ver, 4096, err);
    if (ret < 0 && err->kind == ERROR_STATE)
        error_prefix(err, "the rbd command did not run on the destination "
                          "host (--receiver=rbd needs the rbd CLI there)");
    if (ret == 0) {
        while (ver.len && (ver.data[ver.len - 1] == '\n'))
            ver.data[--ver.len] = '\0';
        for (size_t i = 0; i < ver.len; i++) {
            if ((unsigned char)ver.data[i] < 0x20 ||
                (unsigned char)ver.data[i] > 0x7e)
                ver.data[i] = '?';
        }
        log_info("'%s': %s", d->base.name, buf_str(&ver));
    }
    buf_release(&cmd);
    buf_release(&ver);
    return ret;
}

int dest_rbdcli_open(const struct dest_rbdcli_params *p, const char *name,
                     const char *conf, const char *id, const char *pool,
                     const char *image, struct dest **out, struct error *err)
{
    struct dest_rbdcli *d = xcalloc(1, sizeof(*d));
    int ret = -1;

    *out = NULL;
    d->base.ops = &rbdcli_ops;
    d->base.name = xstrdup(name);
    d->p = *p;
    d->conf = xstrdup(conf);
    d->id = xstrdup(id);
    d->pool = xstrdup(pool);
    d->image = xstrdup(image);
    if ((id && check_name(d, "client id", id, err) < 0) ||
        check_name(d, "pool name", pool, err) < 0 ||
        check_name(d, "image name", image, err) < 0)
        goto out;
    if (conf && !text_is_safe(conf, 4096)) {
        error_set(err, ERROR_USAGE, 0,
                  "refusing the ceph configuration path '%s' for '%s': it "
                  "must be printable and must not start with '-'",
                  conf, name);
        goto out;
    }
    if (check_rbd(d, err) < 0)
        goto out;
    *out = &d->base;
    d = NULL;
    ret = 0;
out:
    if (d) {
        free(d->base.name);
        rbdcli_free(&d->base);
    }
    return ret;
}
