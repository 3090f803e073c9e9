/* SPDX-License-Identifier: MIT */
/*
 * openstack/document.c: a YAML or JSON file as a struct doc_node tree.
 *
 * The second libyaml user of the openstack/ layer (config.c is the other).
 * libyaml's document API builds the document; this file checks what
 * libyaml lets through (duplicate keys, non-scalar keys, a second
 * document), expands aliases into a deep copy under a node limit, and
 * deletes the libyaml document, so that callers never see <yaml.h>. It
 * prints nothing: every problem becomes a struct error with a position.
 */
#include "openstack/document.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "rbdmove/base/buf.h"
#include "rbdmove/base/xalloc.h"

#define MAX_BYTES (16u << 20) /* the largest file or text read */
#define MAX_NODES 100000      /* after aliases are expanded */
#define MAX_DEPTH 1000        /* bounds our recursion, and document_free's */
#define KEY_SHOWN 64          /* bytes of a key quoted in a message */

/* The state of one conversion from a libyaml document to a tree. */
struct loader {
    const char *name;
    yaml_document_t *doc;
    /* By libyaml node index - 1: the node is being copied, so meeting it
     * again means an alias inside itself. */
    bool *open;
    size_t nodes; /* doc_nodes made so far */
    struct error *err;
};

/* A libyaml mark is 0-based; ours are 1-based. */
static unsigned pos(size_t v)
{
    return v < UINT_MAX ? (unsigned)v + 1 : UINT_MAX;
}

/* ERROR_USAGE "NAME:LINE:COL: what"; returns -1. */
static int __attribute__((format(printf, 4, 5)))
fail_at(struct error *err, const char *name, yaml_mark_t mark, const char *fmt,
        ...)
{
    char what[ERROR_MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return error_set(err, ERROR_USAGE, 0, "%s:%u:%u: %s", name, pos(mark.line),
                     pos(mark.column), what);
}

/*
 * libyaml reports a reader error (bad UTF-8, a control character) by byte
 * offset only, with problem_mark left at zero: count the lines ourselves.
 * The column is in bytes there, not characters.
 */
static yaml_mark_t mark_at(const char *text, size_t len, size_t off)
{
    yaml_mark_t m = {0, 0, 0};

    for (size_t i = 0; i < off && i < len; i++) {
        if (text[i] == '\n') {
            m.line++;
            m.column = 0;
        } else {
            m.column++;
        }
    }
    m.index = off;
    return m;
}

static int syntax_error(const yaml_parser_t *p, const char *text, size_t len,
                        const char *name, struct error *err)
{
    const char *problem = p->problem ? p->problem : "malformed YAML";
    yaml_mark_t m = p->problem_mark;
    char extra[ERROR_MSG_MAX / 2] = "";

    if (p->error == YAML_MEMORY_ERROR)
        return error_set(err, ERROR_IO, ENOMEM, "%s: libyaml failed", name);
    if (p->error == YAML_READER_ERROR) {
        m = mark_at(text, len, p->problem_offset);
        if (p->problem_value != -1)
            snprintf(extra, sizeof(extra), " (byte 0x%02X)",
                     (unsigned)p->problem_value & 0xFFu);
    } else if (p->context) {
        snprintf(extra, sizeof(extra), " (%s that started at %u:%u)",
                 p->context, pos(p->context_mark.line),
                 pos(p->context_mark.column));
    }
    return fail_at(err, name, m, "%s%s", problem, extra);
}

static yaml_node_t *node(const struct loader *l, int index)
{
    yaml_node_t *n = yaml_document_get_node(l->doc, index);

    if (!n)
        BUG("libyaml node %d out of range", index);
    return n;
}

/* ---- mappings: the checks libyaml does not make --------------------- */

struct key_ref {
    const yaml_node_t *key;
    size_t pair; /* its place in the mapping */
};

static int key_text_cmp(const yaml_node_t *a, const yaml_node_t *b)
{
    size_t la = a->data.scalar.length;
    size_t lb = b->data.scalar.length;
    int c =
        memcmp(a->data.scalar.value, b->data.scalar.value, la < lb ? la : lb);

    if (c)
        return c;
    return la < lb ? -1 : la > lb;
}

/* By text, then by place, so that equal keys stand in file order. */
static int key_ref_cmp(const void *pa, const void *pb)
{
    const struct key_ref *a = pa;
    const struct key_ref *b = pb;
    int c = key_text_cmp(a->key, b->key);

    if (c)
        return c;
    return a->pair < b->pair ? -1 : a->pair > b->pair;
}

/*
 * The first key (in file order) that repeats an earlier one: sorting keeps
 * this O(n log n), which matters because an alias bomb may make us check
 * large mappings many times. Returns 0 and sets *second, *first when there
 * is one, -1 when the keys are unique.
 */
static int find_duplicate(struct key_ref *refs, size_t n, size_t *second,
                          size_t *first)
{
    size_t best = SIZE_MAX;

    qsort(refs, n, sizeof(*refs), key_ref_cmp);
    for (size_t i = 1; i < n; i++) {
        bool dup = !key_text_cmp(refs[i - 1].key, refs[i].key);
        bool head = i < 2 || key_text_cmp(refs[i - 2].key, refs[i].key);

        if (dup && head && refs[i].pair < best) {
            best = refs[i].pair;
            *second = refs[i].pair;
            *first = refs[i - 1].pair;
        }
    }
    return best == SIZE_MAX ? -1 : 0;
}

/* Every key a scalar, and no key twice. Positions are the key nodes';
 * a key written as an alias has the position of its anchor. */
static int check_keys(struct loader *l, const yaml_node_t *map)
{
    const yaml_node_pair_t *pairs = map->data.mapping.pairs.start;
    size_t n = (size_t)(map->data.mapping.pairs.top - pairs);
    struct key_ref *refs = xcalloc(n, sizeof(*refs));
    const yaml_node_t *k, *k1;
    size_t second, first;
    int ret = -1;

    for (size_t i = 0; i < n; i++) {
        k = node(l, pairs[i].key);
        if (k->type != YAML_SCALAR_NODE) {
            fail_at(l->err, l->name, k->start_mark,
                    "a key must be a simple value, not a %s",
                    k->type == YAML_MAPPING_NODE ? "mapping" : "list");
            goto out;
        }
        refs[i].key = k;
        refs[i].pair = i;
    }
    if (find_duplicate(refs, n, &second, &first) == 0) {
        k = node(l, pairs[second].key);
        k1 = node(l, pairs[first].key);
        fail_at(l->err, l->name, k->start_mark,
                "duplicate key '%.*s'%s (first at %u:%u)",
                (int)(k->data.scalar.length < KEY_SHOWN ? k->data.scalar.length
                                                        : KEY_SHOWN),
                (const char *)k->data.scalar.value,
                pairs[second].key == pairs[first].key ? " through an alias"
                                                      : "",
                pos(k1->start_mark.line), pos(k1->start_mark.column));
        goto out;
    }
    ret = 0;
out:
    free(refs);
    return ret;
}

/* ---- the copy ----------------------------------------------------- */

static int copy(struct loader *l, int index, unsigned depth,
                struct doc_node **out);

static int copy_scalar(struct loader *l, const yaml_node_t *yn,
                       struct doc_node *d)
{
    size_t len = yn->data.scalar.length;

    /* Our scalars are C strings: a "\0" escape would cut the text short
     * without a word, so refuse it. */
    if (memchr(yn->data.scalar.value, '\0', len))
        return fail_at(l->err, l->name, yn->start_mark,
                       "a value contains a NUL character");
    d->scalar = xmalloc(len + 1);
    memcpy(d->scalar, yn->data.scalar.value, len);
    d->scalar[len] = '\0';
    d->plain = yn->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    return 0;
}

static int copy_sequence(struct loader *l, const yaml_node_t *yn,
                         unsigned depth, struct doc_node *d)
{
    const yaml_node_item_t *items = yn->data.sequence.items.start;

    d->n = (size_t)(yn->data.sequence.items.top - items);
    d->items = d->n ? xcalloc(d->n, sizeof(*d->items)) : NULL;
    for (size_t i = 0; i < d->n; i++) {
        if (copy(l, items[i], depth + 1, &d->items[i]) < 0)
            return -1;
    }
    return 0;
}

static int copy_mapping(struct loader *l, const yaml_node_t *yn, unsigned depth,
                        struct doc_node *d)
{
    const yaml_node_pair_t *pairs = yn->data.mapping.pairs.start;

    if (check_keys(l, yn) < 0)
        return -1;
    d->n = (size_t)(yn->data.mapping.pairs.top - pairs);
    d->keys = d->n ? xcalloc(d->n, sizeof(*d->keys)) : NULL;
    d->items = d->n ? xcalloc(d->n, sizeof(*d->items)) : NULL;
    for (size_t i = 0; i < d->n; i++) {
        if (copy(l, pairs[i].key, depth + 1, &d->keys[i]) < 0)
            return -1;
        if (copy(l, pairs[i].value, depth + 1, &d->items[i]) < 0)
            return -1;
    }
    return 0;
}

/*
 * Copy libyaml node index (and what it holds) into *out. libyaml shares
 * an aliased node among its users, and an anchor is known before the node
 * it names is complete, so "&a [*a]" is a node inside itself: the open
 * flags catch that, and the node count stops a "billion laughs" long
 * before memory runs out. On failure *out is NULL and the partial copy is
 * freed.
 */
static int copy(struct loader *l, int index, unsigned depth,
                struct doc_node **out)
{
    const yaml_node_t *yn = node(l, index);
    bool *open = &l->open[index - 1];
    struct doc_node *d;
    int r = -1;

    *out = NULL;
    if (*open)
        return fail_at(l->err, l->name, yn->start_mark,
                       "this %s contains itself through an alias",
                       yn->type == YAML_MAPPING_NODE ? "mapping" : "list");
    if (depth > MAX_DEPTH)
        return fail_at(l->err, l->name, yn->start_mark,
                       "nested deeper than %d levels", MAX_DEPTH);
    if (++l->nodes > MAX_NODES)
        return fail_at(l->err, l->name, yn->start_mark,
                       "more than %d nodes once aliases are expanded",
                       MAX_NODES);

    d = xcalloc(1, sizeof(*d));
    d->line = pos(yn->start_mark.line);
    d->column = pos(yn->start_mark.column);
    *open = true;
    switch (yn->type) {
    case YAML_SCALAR_NODE:
        d->type = DOC_SCALAR;
        r = copy_scalar(l, yn, d);
        break;
    case YAML_SEQUENCE_NODE:
        d->type = DOC_SEQUENCE;
        r = copy_sequence(l, yn, depth, d);
        break;
    case YAML_MAPPING_NODE:
        d->type = DOC_MAPPING;
        r = copy_mapping(l, yn, depth, d);
        break;
    case YAML_NO_NODE:
        BUG("libyaml node %d has no type", index);
    }
    *open = false;
    if (r < 0) {
        document_free(d);
        return -1;
    }
    *out = d;
    return 0;
}

/* ---- the document ------------------------------------------------- */

/* The stream must end after the first document: yaml_parser_load would
 * hand us a second one on the next call. */
static int check_end(yaml_parser_t *p, const char *text, size_t len,
                     const char *name, struct error *err)
{
    yaml_document_t next;
    int ret = 0;

    if (!yaml_parser_load(p, &next))
        return syntax_error(p, text, len, name, err);
    if (yaml_document_get_root_node(&next))
        ret = fail_at(err, name, next.start_mark,
                      "a second document: the file must hold only one");
    yaml_document_delete(&next);
    return ret;
}

int document_parse(const char *text, size_t len, const char *name,
                   struct doc_node **root, struct error *err)
{
    struct loader l = {name, NULL, NULL, 0, err};
    yaml_parser_t parser;
    yaml_document_t doc;
    bool loaded = false;
    int ret = -1;

    *root = NULL;
    if (!text) { /* libyaml asserts a non-NULL input, even an empty one */
        text = "";
        len = 0;
    }
    if (len > MAX_BYTES)
        return error_set(err, ERROR_USAGE, 0, "%s: larger than %u MiB", name,
                         MAX_BYTES >> 20);
    if (!yaml_parser_initialize(&parser))
        return error_set(err, ERROR_IO, ENOMEM, "cannot start libyaml");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        syntax_error(&parser, text, len, name, err);
        goto out;
    }
    loaded = true;
    if (!yaml_document_get_root_node(&doc)) {
        fail_at(err, name, doc.start_mark,
                "no document: the file is empty or holds only comments");
        goto out;
    }
    if (check_end(&parser, text, len, name, err) < 0)
        goto out;

    l.doc = &doc;
    l.open = xcalloc((size_t)(doc.nodes.top - doc.nodes.start), sizeof(bool));
    /* The root is node 1 (yaml_document_get_root_node). */
    if (copy(&l, 1, 0, root) < 0)
        goto out;
    ret = 0;
out:
    free(l.open);
    if (loaded)
        yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return ret;
}

/* The whole file into b, refusing more than MAX_BYTES. */
static int read_file(const char *path, struct buf *b, struct error *err)
{
    char chunk[16384];
    struct stat st;
    int ret = -1;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return error_set(err, ERROR_IO, errno, "cannot open '%s'", path);
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > MAX_BYTES) {
        error_set(err, ERROR_USAGE, 0, "%s: larger than %u MiB", path,
                  MAX_BYTES >> 20);
        goto out;
    }
    for (;;) {
        ssize_t r = read(fd, chunk, sizeof(chunk));

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            error_set(err, ERROR_IO, errno, "cannot read '%s'", path);
            goto out;
        }
        if (r == 0)
            break;
        buf_add(b, chunk, (size_t)r);
        if (b->len > MAX_BYTES) { /* a pipe, or a file that grew */
            error_set(err, ERROR_USAGE, 0, "%s: larger than %u MiB", path,
                      MAX_BYTES >> 20);
            goto out;
        }
    }
    ret = 0;
out:
    close(fd);
    return ret;
}

int document_load(const char *path, struct doc_node **root, struct error *err)
{
    struct buf text = BUF_INIT;
    int ret = -1;

    *root = NULL;
    if (read_file(path, &text, err) < 0)
        goto out;
    ret = document_parse(text.data, text.len, path, root, err);
out:
    buf_release(&text);
    return ret;
}

void document_free(struct doc_node *root)
{
    if (!root)
        return;
    for (size_t i = 0; i < root->n; i++) {
        if (root->keys)
            document_free(root->keys[i]);
        if (root->items)
            document_free(root->items[i]);
    }
    free(root->keys);
    free(root->items);
    free(root->scalar);
    free(root);
}

const struct doc_node *document_get(const struct doc_node *map, const char *key)
{
    if (!map || map->type != DOC_MAPPING)
        return NULL;
    for (size_t i = 0; i < map->n; i++) {
        if (!strcmp(map->keys[i]->scalar, key))
            return map->items[i];
    }
    return NULL;
}

const char *document_type_name(enum doc_type t)
{
    switch (t) {
    case DOC_MAPPING:
        return "mapping";
    case DOC_SEQUENCE:
        return "list";
    case DOC_SCALAR:
        break;
    }
    return "value";
}
