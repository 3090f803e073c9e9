/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/base/json_in.c: a strict recursive-descent JSON parser into a tree.
 *
 * Recursion follows nesting, which the depth limit bounds (and which is
 * clamped, so that no caller can ask for a stack overflow). Every error
 * frees what was built so far, so a failed parse leaks nothing. Duplicate
 * keys are found by sorting an index of each object's keys once it is
 * complete: hostile input with many keys costs n log n, not n squared.
 */
#include "rbdmove/base/json_in.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rbdmove/base/buf.h"
#include "rbdmove/base/xalloc.h"

#define DEPTH_CLAMP 1024

struct parser {
    const char *start;
    const char *p;
    const char *end;
    unsigned max_depth;
    size_t max_nodes;
    unsigned depth;
    size_t nodes;
    struct error *err;
};

/* ---- errors --------------------------------------------------------------
 */

static void location(const struct parser *ps, const char *at, size_t *line,
                     size_t *col)
{
    *line = 1;
    *col = 1;
    for (const char *q = ps->start; q < at; q++) {
        if (*q == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

static int fail_at(struct parser *ps, const char *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "JSON: <what> at line L, column C"; returns -1. */
static int fail_at(struct parser *ps, const char *at, const char *fmt, ...)
{
    struct buf b = BUF_INIT;
    size_t line, col;
    va_list ap;

    va_start(ap, fmt);
    buf_vaddf(&b, fmt, ap);
    va_end(ap);
    location(ps, at, &line, &col);
    error_set(ps->err, ERROR_PROTOCOL, 0, "JSON: %s at line %zu, column %zu",
              buf_str(&b), line, col);
    buf_release(&b);
    return -1;
}

/* What is at p, for "unexpected ..." messages. */
static int unexpected(struct parser *ps, const char *what)
{
    unsigned char c;

    if (ps->p >= ps->end)
        return fail_at(ps, ps->p, "unexpected end of input (expected %s)",
                       what);
    c = (unsigned char)*ps->p;
    if (c >= 0x21 && c < 0x7f)
        return fail_at(ps, ps->p, "unexpected '%c' (expected %s)", c, what);
    return fail_at(ps, ps->p, "unexpected byte 0x%02x (expected %s)", c, what);
}

/* ---- tree ----------------------------------------------------------------
 */

static void node_release(struct json_in *v)
{
    if (v->type == JSON_IN_ARRAY || v->type == JSON_IN_OBJECT) {
        for (size_t i = 0; i < v->n; i++) {
            node_release(&v->items[i]);
            if (v->keys)
                free(v->keys[i]);
        }
    }
    free(v->items);
    free(v->keys);
    free(v->text);
    memset(v, 0, sizeof(*v));
}

void json_in_free(struct json_in *root)
{
    if (!root)
        return;
    node_release(root);
    free(root);
}

/* ---- lexical helpers -----------------------------------------------------
 */

static void skip_ws(struct parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' ||
                               *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static bool take(struct parser *ps, char c)
{
    if (ps->p < ps->end && *ps->p == c) {
        ps->p++;
        return true;
    }
    return false;
}

static bool is_digit(const struct parser *ps, const char *q)
{
    return q < ps->end && *q >= '0' && *q <= '9';
}

static int literal(struct parser *ps, const char *word)
{
    size_t len = strlen(word);

    if ((size_t)(ps->end - ps->p) < len || memcmp(ps->p, word, len))
        return fail_at(ps, ps->p, "invalid literal (expected '%s')", word);
    ps->p += len;
    return 0;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int number(struct parser *ps, struct json_in *v)
{
    const char *s = ps->p;

    take(ps, '-');
    if (!is_digit(ps, ps->p))
        return fail_at(ps, ps->p, "invalid number (a digit must follow)");
    if (*ps->p == '0' && is_digit(ps, ps->p + 1))
        return fail_at(ps, ps->p, "invalid number (leading zero)");
    while (is_digit(ps, ps->p))
        ps->p++;
    if (take(ps, '.')) {
        if (!is_digit(ps, ps->p))
            return fail_at(ps, ps->p,
                           "invalid number (digits must follow "
                           "the decimal point)");
        while (is_digit(ps, ps->p))
            ps->p++;
    }
    if (take(ps, 'e') || take(ps, 'E')) {
        if (!take(ps, '+'))
            take(ps, '-');
        if (!is_digit(ps, ps->p))
            return fail_at(ps, ps->p,
                           "invalid number (digits must follow "
                           "the exponent)");
        while (is_digit(ps, ps->p))
            ps->p++;
    }
    v->type = JSON_IN_NUMBER;
    v->text = xstrndup(s, (size_t)(ps->p - s));
    return 0;
}

static int hex4(struct parser *ps, unsigned *out)
{
    unsigned v = 0;

    if (ps->end - ps->p < 4)
        return fail_at(ps, ps->p, "truncated \\u escape");
    for (int i = 0; i < 4; i++) {
        char c = ps->p[i];

        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return fail_at(ps, ps->p + i, "invalid hex digit in a \\u escape");
    }
    ps->p += 4;
    *out = v;
    return 0;
}

static void add_utf8(struct buf *b, unsigned cp)
{
    char u[4];
    size_t n;

    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xc0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xe0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        u[0] = (char)(0xf0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    buf_add(b, u, n);
}

/* After the backslash of "\u": one code point, a surrogate pair whole. */
static int unicode_escape(struct parser *ps, struct buf *b)
{
    const char *at = ps->p - 2;
    unsigned cp, lo;

    if (hex4(ps, &cp) < 0)
        return -1;
    if (cp >= 0xdc00 && cp <= 0xdfff)
        return fail_at(ps, at, "unpaired low surrogate in a \\u escape");
    if (cp >= 0xd800 && cp <= 0xdbff) {
        if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u')
            return fail_at(ps, at, "unpaired high surrogate in a \\u escape");
        ps->p += 2;
        if (hex4(ps, &lo) < 0)
            return -1;
        if (lo < 0xdc00 || lo > 0xdfff)
            return fail_at(ps, at, "unpaired high surrogate in a \\u escape");
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
    }
    if (cp == 0)
        return fail_at(ps, at, "\\u0000 in a string is not supported");
    add_utf8(b, cp);
    return 0;
}

static int escape(struct parser *ps, struct buf *b)
{
    static const char from[] = "\"\\/bfnrt";
    static const char to[] = "\"\\/\b\f\n\r\t";
    const char *hit;

    if (ps->p >= ps->end)
        return fail_at(ps, ps->p, "unterminated string");
    if (*ps->p == 'u') {
        ps->p++;
        return unicode_escape(ps, b);
    }
    hit = memchr(from, *ps->p, sizeof(from) - 1);
    if (!hit)
        return fail_at(ps, ps->p - 1, "invalid escape in a string");
    buf_add(b, &to[hit - from], 1);
    ps->p++;
    return 0;
}

/*
 * Length of the well-formed UTF-8 sequence at q (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), 0 when it is not one.
 */
static size_t utf8_len(const unsigned char *q, const unsigned char *end)
{
    unsigned char c = q[0];
    unsigned char lo = 0x80, hi = 0xbf;
    size_t n;

    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4;
    else
        return 0;
    if ((size_t)(end - q) < n)
        return 0;
    if (c == 0xe0)
        lo = 0xa0;
    else if (c == 0xed)
        hi = 0x9f;
    else if (c == 0xf0)
        lo = 0x90;
    else if (c == 0xf4)
        hi = 0x8f;
    if (q[1] < lo || q[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++) {
        if (q[i] < 0x80 || q[i] > 0xbf)
            return 0;
    }
    return n;
}

/* At the opening quote; *out is a new NUL-terminated string. */
static int string(struct parser *ps, char **out, size_t *len)
{
    struct buf b = BUF_INIT;

    ps->p++;
    for (;;) {
        unsigned char c;

        if (ps->p >= ps->end) {
            buf_release(&b);
            return fail_at(ps, ps->p, "unterminated string");
        }
        c = (unsigned char)*ps->p;
        if (c == '"') {
            ps->p++;
            break;
        }
        if (c == '\\') {
            ps->p++;
            if (escape(ps, &b) < 0) {
                buf_release(&b);
                return -1;
            }
        } else if (c < 0x20) {
            buf_release(&b);
            return fail_at(ps, ps->p, "control character 0x%02x in a string",
                           c);
        } else if (c < 0x80) {
            buf_add(&b, ps->p++, 1);
        } else {
            size_t n = utf8_len((const unsigned char *)ps->p,
                                (const unsigned char *)ps->end);

            if (!n) {
                buf_release(&b);
                return fail_at(ps, ps->p, "invalid UTF-8 in a string");
            }
            buf_add(&b, ps->p, n);
            ps->p += n;
        }
    }
    *len = b.len;
    *out = buf_take(&b);
    return 0;
}

/* ---- structure -----------------------------------------------------------
 */

static int value(struct parser *ps, struct json_in *v);

/* Append an empty member to v and return it. */
static struct json_in *grow(struct json_in *v, size_t *cap)
{
    if (v->n == *cap) {
        *cap = *cap ? *cap * 2 : 4;
        v->items = xrealloc(v->items, *cap * sizeof(*v->items));
        if (v->type == JSON_IN_OBJECT)
            v->keys = xrealloc(v->keys, *cap * sizeof(*v->keys));
    }
    memset(&v->items[v->n], 0, sizeof(v->items[v->n]));
    if (v->keys)
        v->keys[v->n] = NULL;
    return &v->items[v->n++];
}

static int array(struct parser *ps, struct json_in *v)
{
    size_t cap = 0;

    v->type = JSON_IN_ARRAY;
    ps->p++;
    skip_ws(ps);
    if (take(ps, ']'))
        return 0;
    for (;;) {
        if (value(ps, grow(v, &cap)) < 0)
            return -1;
        skip_ws(ps);
        if (take(ps, ']'))
            return 0;
        if (!take(ps, ','))
            return unexpected(ps, "',' or ']'");
    }
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The printable start of a key, for a message. */
static void show_key(const char *k, char *out, size_t outlen)
{
    size_t i = 0;

    for (; k[i] && i + 4 < outlen && i < 40; i++)
        out[i] = (k[i] >= 0x20 && k[i] < 0x7f) ? k[i] : '?';
    if (k[i] && i + 4 <= outlen) {
        memcpy(out + i, "...", 3);
        i += 3;
    }
    out[i] = '\0';
}

static int check_unique(struct parser *ps, const struct json_in *v,
                        const char *at)
{
    char **sorted;
    int ret = 0;

    if (v->n < 2)
        return 0;
    sorted = xmalloc(v->n * sizeof(*sorted));
    memcpy(sorted, v->keys, v->n * sizeof(*sorted));
    qsort(sorted, v->n, sizeof(*sorted), cmp_keys);
    for (size_t i = 1; i < v->n && ret == 0; i++) {
        if (!strcmp(sorted[i - 1], sorted[i])) {
            char shown[48];

            show_key(sorted[i], shown, sizeof(shown));
            ret = fail_at(ps, at, "duplicate key '%s' in the object", shown);
        }
    }
    free(sorted);
    return ret;
}

static int object(struct parser *ps, struct json_in *v)
{
    const char *at = ps->p;
    size_t cap = 0;

    v->type = JSON_IN_OBJECT;
    ps->p++;
    skip_ws(ps);
    if (take(ps, '}'))
        return 0;
    for (;;) {
        struct json_in *m;
        char *key = NULL;
        size_t klen;

        if (ps->p >= ps->end || *ps->p != '"')
            return unexpected(ps, "a string key");
        if (string(ps, &key, &klen) < 0)
            return -1;
        m = grow(v, &cap);
        v->keys[v->n - 1] = key;
        skip_ws(ps);
        if (!take(ps, ':'))
            return unexpected(ps, "':'");
        if (value(ps, m) < 0)
            return -1;
        skip_ws(ps);
        if (take(ps, '}'))
            return check_unique(ps, v, at);
        if (!take(ps, ','))
            return unexpected(ps, "',' or '}'");
        skip_ws(ps);
    }
}

static int nested(struct parser *ps, struct json_in *v, bool is_array)
{
    int ret;

    if (ps->depth >= ps->max_depth)
        return fail_at(ps, ps->p, "nested deeper than %u levels",
                       ps->max_depth);
    ps->depth++;
    ret = is_array ? array(ps, v) : object(ps, v);
    ps->depth--;
    return ret;
}

static int value(struct parser *ps, struct json_in *v)
{
    skip_ws(ps);
    if (++ps->nodes > ps->max_nodes)
        return fail_at(ps, ps->p, "more than %zu values", ps->max_nodes);
    if (ps->p >= ps->end)
        return unexpected(ps, "a value");
    switch (*ps->p) {
    case '{':
        return nested(ps, v, false);
    case '[':
        return nested(ps, v, true);
    case '"':
        v->type = JSON_IN_STRING;
        return string(ps, &v->text, &v->n);
    case 't':
        v->type = JSON_IN_BOOL;
        v->boolean = true;
        return literal(ps, "true");
    case 'f':
        v->type = JSON_IN_BOOL;
        return literal(ps, "false");
    case 'n':
        v->type = JSON_IN_NULL;
        return literal(ps, "null");
    default:
        if (*ps->p == '-' || is_digit(ps, ps->p))
            return number(ps, v);
        return unexpected(ps, "a value");
    }
}

int json_in_parse(const char *text, size_t len,
                  const struct json_in_limits *limits, struct json_in **out,
                  struct error *err)
{
    struct parser ps = {
        text, text, text + len, JSON_IN_DEFAULT_DEPTH, JSON_IN_DEFAULT_NODES,
        0,    0,    err};
    size_t max_length = JSON_IN_DEFAULT_LENGTH;
    struct json_in *root = xcalloc(1, sizeof(*root));

    *out = NULL;
    if (limits && limits->max_depth)
        ps.max_depth = limits->max_depth;
    if (ps.max_depth > DEPTH_CLAMP)
        ps.max_depth = DEPTH_CLAMP;
    if (limits && limits->max_nodes)
        ps.max_nodes = limits->max_nodes;
    if (limits && limits->max_length)
        max_length = limits->max_length;
    if (len > max_length) {
        free(root);
        return error_set(err, ERROR_PROTOCOL, 0,
                         "JSON: document of %zu bytes is longer than the "
                         "limit of %zu",
                         len, max_length);
    }
    skip_ws(&ps);
    if (ps.p == ps.end) {
        free(root);
        return error_set(err, ERROR_PROTOCOL, 0, "JSON: empty document");
    }
    if (value(&ps, root) < 0)
        goto fail;
    skip_ws(&ps);
    if (ps.p != ps.end) {
        fail_at(&ps, ps.p, "data after the end of the document");
        goto fail;
    }
    *out = root;
    return 0;
fail:
    json_in_free(root);
    return -1;
}

/* ---- accessors -----------------------------------------------------------
 */

const struct json_in *json_in_get(const struct json_in *v, const char *key)
{
    if (!json_in_is(v, JSON_IN_OBJECT))
        return NULL;
    for (size_t i = 0; i < v->n; i++) {
        if (!strcmp(v->keys[i], key))
            return &v->items[i];
    }
    return NULL;
}

const struct json_in *json_in_at(const struct json_in *v, size_t i)
{
    if (!json_in_is(v, JSON_IN_ARRAY) || i >= v->n)
        return NULL;
    return &v->items[i];
}

size_t json_in_len(const struct json_in *v)
{
    if (json_in_is(v, JSON_IN_ARRAY) || json_in_is(v, JSON_IN_OBJECT))
        return v->n;
    return 0;
}

bool json_in_is(const struct json_in *v, enum json_in_type t)
{
    return v && v->type == t;
}

const char *json_in_string(const struct json_in *v)
{
    return json_in_is(v, JSON_IN_STRING) ? v->text : NULL;
}

bool json_in_u64(const struct json_in *v, uint64_t *out)
{
    uint64_t n = 0;

    if (!json_in_is(v, JSON_IN_NUMBER))
        return false;
    for (const char *q = v->text; *q; q++) {
        unsigned d;

        if (*q < '0' || *q > '9')
            return false; /* '-', '.', 'e' */
        d = (unsigned)(*q - '0');
        if (n > (UINT64_MAX - d) / 10)
            return false;
        n = n * 10 + d;
    }
    *out = n;
    return true;
}

bool json_in_bool(const struct json_in *v, bool *out)
{
    if (!json_in_is(v, JSON_IN_BOOL))
        return false;
    *out = v->boolean;
    return true;
}

const char *json_in_type_name(enum json_in_type t)
{
    switch (t) {
    case JSON_IN_NULL:
        return "null";
    case JSON_IN_BOOL:
        return "boolean";
    case JSON_IN_NUMBER:
        return "number";
    case JSON_IN_STRING:
        return "string";
    case JSON_IN_ARRAY:
        return "array";
    case JSON_IN_OBJECT:
        return "object";
    }
    return "?";
}
