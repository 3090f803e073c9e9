/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_document.c: openstack/document.c, the YAML/JSON loader
 * with positions: the tree it builds, line:column of each node, and each
 * input it must refuse with a position (syntax, duplicate and non-scalar
 * keys, empty input, a second document, alias bombs and loops), read
 * from memory and from a file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "openstack/document.h"

static int parse(const char *text, struct doc_node **root, struct error *err)
{
    return document_parse(text, strlen(text), "plan.yaml", root, err);
}

static void assert_pos(const struct doc_node *n, unsigned line, unsigned column)
{
    assert_non_null(n);
    assert_int_equal(n->line, line);
    assert_int_equal(n->column, column);
}

/* Parsing text fails with ERROR_USAGE and exactly this message. */
static void assert_refused(const char *text, const char *msg)
{
    struct doc_node *root = (struct doc_node *)&root; /* must become NULL */
    struct error err = ERROR_INIT;

    assert_int_equal(parse(text, &root, &err), -1);
    assert_null(root);
    assert_int_equal(err.kind, ERROR_USAGE);
    assert_string_equal(err.msg, msg);
}

static void test_document_nested_positions(void **state)
{
    const char *text = "# a plan\n"
                       "volumes:\n"
                       "  - name: vol-1\n"
                       "    size: 10\n"
                       "  - name: vol-2\n"
                       "target:\n"
                       "  pool: rbd\n";
    struct error err = ERROR_INIT;
    struct doc_node *root = NULL;
    const struct doc_node *vols, *v, *target;

    (void)state;
    assert_int_equal(parse(text, &root, &err), 0);
    assert_int_equal(root->type, DOC_MAPPING);
    assert_pos(root, 2, 1);
    assert_int_equal(root->n, 2);
    assert_string_equal(root->keys[0]->scalar, "volumes");
    assert_pos(root->keys[0], 2, 1);
    assert_string_equal(root->keys[1]->scalar, "target");
    assert_pos(root->keys[1], 6, 1);

    vols = root->items[0];
    assert_int_equal(vols->type, DOC_SEQUENCE);
    assert_pos(vols, 3, 3);
    assert_int_equal(vols->n, 2);

    v = vols->items[0];
    assert_int_equal(v->type, DOC_MAPPING);
    assert_pos(v, 3, 5);
    assert_int_equal(v->n, 2);
    assert_pos(v->keys[1], 4, 5);
    assert_string_equal(v->items[1]->scalar, "10");
    assert_pos(v->items[1], 4, 11);
    assert_pos(vols->items[1]->items[0], 5, 11);
    assert_string_equal(vols->items[1]->items[0]->scalar, "vol-2");

    target = root->items[1];
    assert_int_equal(target->type, DOC_MAPPING);
    assert_pos(target, 7, 3);
    assert_string_equal(target->items[0]->scalar, "rbd");
    assert_pos(target->items[0], 7, 9);
    document_free(root);
}

static void test_document_json(void **state)
{
    const char *text = "{\n"
                       "\t\"volumes\": [\"vol-1\", 2, true, null],\n"
                       "\t\"opts\":{\"dry\":false}\n"
                       "}\n";
    struct error err = ERROR_INIT;
    struct doc_node *root = NULL;
    const struct doc_node *vols, *opts;

    (void)state;
    assert_int_equal(parse(text, &root, &err), 0);
    assert_int_equal(root->type, DOC_MAPPING);
    assert_pos(root, 1, 1);
    vols = document_get(root, "volumes");
    assert_int_equal(vols->type, DOC_SEQUENCE);
    assert_pos(vols, 2, 13);
    assert_int_equal(vols->n, 4);
    assert_string_equal(vols->items[0]->scalar, "vol-1");
    assert_false(vols->items[0]->plain);
    assert_pos(vols->items[0], 2, 14);
    assert_string_equal(vols->items[1]->scalar, "2");
    assert_true(vols->items[1]->plain);
    assert_string_equal(vols->items[2]->scalar, "true");
    assert_true(vols->items[2]->plain);
    assert_string_equal(vols->items[3]->scalar, "null");
    assert_true(vols->items[3]->plain);

    opts = document_get(root, "opts");
    assert_int_equal(opts->type, DOC_MAPPING);
    assert_pos(opts, 3, 9);
    assert_string_equal(document_get(opts, "dry")->scalar, "false");
    assert_pos(document_get(opts, "dry"), 3, 16);
    document_free(root);
}

static void test_document_quoted_and_plain(void **state)
{
    const char *text = "a: true\n"
                       "b: \"true\"\n"
                       "c: 'true'\n"
                       "d: |\n"
                       "  true\n"
                       "e: >\n"
                       "  folded\n"
                       "  text\n"
                       "f:\n"
                       "g: \"tab\\there\"\n";
    struct error err = ERROR_INIT;
    struct doc_node *root = NULL;

    (void)state;
    assert_int_equal(parse(text, &root, &err), 0);
    assert_true(document_get(root, "a")->plain);
    assert_string_equal(document_get(root, "a")->scalar, "true");
    assert_false(document_get(root, "b")->plain);
    assert_string_equal(document_get(root, "b")->scalar, "true");
    assert_false(document_get(root, "c")->plain);
    assert_string_equal(document_get(root, "c")->scalar, "true");
    assert_false(document_get(root, "d")->plain);
    assert_string_equal(document_get(root, "d")->scalar, "true\n");
    assert_false(document_get(root, "e")->plain);
    assert_string_equal(document_get(root, "e")->scalar, "folded text\n");
    /* An empty value is a plain empty scalar: null for who asks. */
    assert_int_equal(document_get(root, "f")->type, DOC_SCALAR);
    assert_true(document_get(root, "f")->plain);
    assert_string_equal(document_get(root, "f")->scalar, "");
    assert_string_equal(document_get(root, "g")->scalar, "tab\there");
    assert_true(root->keys[0]->plain);
    document_free(root);
}

static void test_document_duplicate_key(void **state)
{
    (void)state;
    assert_refused("volumes:\n"
                   "  - name: a\n"
                   "    size: 1\n"
                   "    name: b\n",
                   "plan.yaml:4:5: duplicate key 'name' (first at 2:5)");
    /* The second of three, and a quoted key equals a plain one. */
    assert_refused("{k: 1, j: 2, \"k\": 3, k: 4}",
                   "plan.yaml:1:14: duplicate key 'k' (first at 1:2)");
    /* The same keys in two mappings are fine. */
    {
        struct error err = ERROR_INIT;
        struct doc_node *root = NULL;

        assert_int_equal(parse("- {a: 1}\n- {a: 2}\n", &root, &err), 0);
        document_free(root);
    }
}

static void test_document_syntax_error(void **state)
{
    (void)state;
    assert_refused("volumes: [a, b\n"
                   "target: x\n",
                   "plan.yaml:2:7: did not find expected ',' or ']' (while "
                   "parsing a flow sequence that started at 1:10)");
    assert_refused("a: b: c\n",
                   "plan.yaml:1:5: mapping values are not allowed in this "
                   "context");
    assert_refused("a: 1\nb: *nowhere\n",
                   "plan.yaml:2:4: found undefined alias");
    /* libyaml's reader gives only a byte offset; we count the lines. */
    assert_refused("a: 1\nb: \xff\n",
                   "plan.yaml:2:4: invalid leading UTF-8 octet (byte 0xFF)");
    /* A NUL would cut our C string short. */
    assert_refused("a: 1\nb: \"x\\0y\"\n",
                   "plan.yaml:2:4: a value contains a NUL character");
}

static void test_document_empty(void **state)
{
    const char *msg =
        "plan.yaml:1:1: no document: the file is empty or holds only comments";
    struct doc_node *root = (struct doc_node *)&root;
    struct error err = ERROR_INIT;

    (void)state;
    assert_refused("", msg);
    assert_refused("\n\n  \n", msg);
    assert_refused("# nothing here\n# at all\n", msg);
    assert_int_equal(document_parse(NULL, 0, "plan.yaml", &root, &err), -1);
    assert_null(root);
    assert_string_equal(err.msg, msg);
}

static void test_document_two_documents(void **state)
{
    struct error err = ERROR_INIT;
    struct doc_node *root = NULL;

    (void)state;
    assert_refused("a: 1\n---\nb: 2\n",
                   "plan.yaml:2:1: a second document: the file must hold "
                   "only one");
    assert_refused("--- a\n--- b\n",
                   "plan.yaml:2:1: a second document: the file must hold "
                   "only one");
    /* An explicit start and end of one document are fine. */
    assert_int_equal(parse("---\na: 1\n...\n", &root, &err), 0);
    assert_string_equal(document_get(root, "a")->scalar, "1");
    assert_pos(root, 2, 1);
    document_free(root);
}

static void test_document_key_not_scalar(void **state)
{
    (void)state;
    assert_refused("a: 1\n? [x, y]\n: 2\n",
                   "plan.yaml:2:3: a key must be a simple value, not a list");
    assert_refused("{{a: 1}: 2}",
                   "plan.yaml:1:2: a key must be a simple value, not a "
                   "mapping");
}

static void test_document_aliases(void **state)
{
    const char *text = "base: &b {pool: rbd, size: 1}\n"
                       "copy: *b\n";
    struct error err = ERROR_INIT;
    struct doc_node *root = NULL;
    const struct doc_node *base, *copy;

    (void)state;
    assert_int_equal(parse(text, &root, &err), 0);
    base = document_get(root, "base");
    copy = document_get(root, "copy");
    /* A deep copy, positioned where the anchored node (its anchor)
     * starts. */
    assert_ptr_not_equal(base, copy);
    assert_int_equal(copy->type, DOC_MAPPING);
    assert_pos(copy, 1, 7);
    assert_pos(base, 1, 7);
    assert_ptr_not_equal(document_get(copy, "pool"),
                         document_get(base, "pool"));
    assert_string_equal(document_get(copy, "pool")->scalar, "rbd");
    document_free(root);

    /* An anchor is known inside its own node: no endless copy. */
    assert_refused("a: &x [1, *x]\n",
                   "plan.yaml:1:4: this list contains itself through an alias");
    assert_refused("&m {a: {b: *m}}",
                   "plan.yaml:1:1: this mapping contains itself through an "
                   "alias");
}

/* "Billion laughs": 10 scalars, each level 10 aliases of the one before,
 * so 10^7 scalars for a few hundred bytes. */
static void test_document_alias_bomb(void **state)
{
    char text[2048];
    size_t len;
    int i;

    (void)state;
    len = (size_t)snprintf(text, sizeof(text),
                           "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
    for (i = 1; i <= 6; i++) {
        len += (size_t)snprintf(
            text + len, sizeof(text) - len,
            "l%d: &l%d [*l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, "
            "*l%d, *l%d]\n",
            i, i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1,
            i - 1);
        assert_true(len < sizeof(text));
    }
    /* l4 alone would be 111111 nodes. The one past the limit is a copy
     * of one of l0's scalars, so it has that scalar's position. */
    assert_refused(text, "plan.yaml:1:22: more than 100000 nodes once "
                         "aliases are expanded");
}

static void test_document_get(void **state)
{
    const char *text = "name: vol\n"
                       "list: [a]\n"
                       "\"\": empty key\n";
    struct error err = ERROR_INIT;
    struct doc_node *root = NULL;
    const struct doc_node *list;

    (void)state;
    assert_int_equal(parse(text, &root, &err), 0);
    assert_string_equal(document_get(root, "name")->scalar, "vol");
    assert_string_equal(document_get(root, "")->scalar, "empty key");
    assert_null(document_get(root, "nam"));
    assert_null(document_get(root, "names"));
    assert_null(document_get(root, "Name"));
    list = document_get(root, "list");
    assert_int_equal(list->type, DOC_SEQUENCE);
    /* Not a mapping: nothing to find. */
    assert_null(document_get(list, "a"));
    assert_null(document_get(document_get(root, "name"), "vol"));
    assert_null(document_get(NULL, "name"));

    assert_string_equal(document_type_name(root->type), "mapping");
    assert_string_equal(document_type_name(list->type), "list");
    assert_string_equal(document_type_name(DOC_SCALAR), "value");
    document_free(root);
    document_free(NULL);
}

static void test_document_load_file(void **state)
{
    char path[] = "/tmp/test_document.XXXXXX";
    const char *text = "a: 1\nb: [2, 3]\n";
    struct doc_node *root = NULL;
    struct error err = ERROR_INIT;
    char msg[sizeof(path) + 64];
    int fd;

    (void)state;
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(document_load(path, &root, &err), 0);
    assert_pos(document_get(root, "b")->items[1], 2, 8);
    document_free(root);

    /* Messages name the file. */
    assert_int_equal(write(fd, "a: 4\n", 5), 5);
    assert_int_equal(document_load(path, &root, &err), -1);
    assert_null(root);
    assert_int_equal(err.kind, ERROR_USAGE);
    snprintf(msg, sizeof(msg), "%s:3:1: duplicate key 'a' (first at 1:1)",
             path);
    assert_string_equal(err.msg, msg);

    /* Over 16 MiB (sparse: nothing is written or read). */
    assert_int_equal(ftruncate(fd, (16 << 20) + 1), 0);
    assert_int_equal(document_load(path, &root, &err), -1);
    assert_int_equal(err.kind, ERROR_USAGE);
    snprintf(msg, sizeof(msg), "%s: larger than 16 MiB", path);
    assert_string_equal(err.msg, msg);
    close(fd);
    unlink(path);

    assert_int_equal(document_load(path, &root, &err), -1);
    assert_null(root);
    assert_int_equal(err.kind, ERROR_IO);
    snprintf(msg, sizeof(msg), "cannot open '%s': No such file or directory",
             path);
    assert_string_equal(err.msg, msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_document_nested_positions),
        cmocka_unit_test(test_document_json),
        cmocka_unit_test(test_document_quoted_and_plain),
        cmocka_unit_test(test_document_duplicate_key),
        cmocka_unit_test(test_document_syntax_error),
        cmocka_unit_test(test_document_empty),
        cmocka_unit_test(test_document_two_documents),
        cmocka_unit_test(test_document_key_not_scalar),
        cmocka_unit_test(test_document_aliases),
        cmocka_unit_test(test_document_alias_bomb),
        cmocka_unit_test(test_document_get),
        cmocka_unit_test(test_document_load_file),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
