/* SPDX-License-Identifier: MIT */
/*
 * openstack/document.h: one YAML (or JSON) document as a plain tree of
 * mappings, lists and scalars, each node with its line and column in the
 * file, so that a caller reading a batch plan can say where a bad value is.
 *
 * Generic: it knows no schema and gives scalars no type (no booleans, no
 * numbers, tags are ignored); it only records whether a scalar was written
 * plain, which is what a caller needs to tell `true` from "true". It sits
 * in the openstack/ layer only because that is the one layer allowed
 * <yaml.h> (style.md §4.1); nothing of libyaml shows in this header, and it
 * talks to no service.
 */
#ifndef OPENSTACK_DOCUMENT_H
#define OPENSTACK_DOCUMENT_H

#include <stdbool.h>
#include <stddef.h>

#include "rbdmove/base/error.h"

enum doc_type { DOC_SCALAR, DOC_MAPPING, DOC_SEQUENCE };

/*
 * One node. A tree is owned by its root, which document_free releases;
 * every pointer inside is owned by the tree. Aliases are expanded, so no
 * node is shared and the tree has no cycles; a copy made for an alias has
 * the position of the anchored node (where its "&anchor" starts).
 */
struct doc_node {
    enum doc_type type;
    unsigned line, column; /* 1-based, where the node starts in the file */
    char *scalar;          /* DOC_SCALAR: its text, NUL-terminated */
    /* DOC_SCALAR: written without quotes or block style (so `true` may be
     * a boolean, "true" may not). */
    bool plain;
    size_t n;               /* DOC_MAPPING: pairs; DOC_SEQUENCE: items */
    struct doc_node **keys; /* DOC_MAPPING: the keys (all DOC_SCALAR) */
    /* DOC_MAPPING: the values; DOC_SEQUENCE: the items. NULL when n is 0,
     * as keys is. */
    struct doc_node **items;
};

/*
 * Read the single document of the file at path. On success *root is a tree
 * the caller owns (document_free); on failure *root is NULL.
 *
 * ERROR_USAGE, with a message "PATH:LINE:COL: what", on a syntax error, an
 * empty file (nothing but blanks and comments), a second document, a key
 * that is not a scalar, a duplicate key in one mapping (pointing at the
 * second; keys compare by text, so "a" repeats a), a scalar holding a NUL
 * character, nesting more than 1000 levels below the top, or more than
 * 100000 nodes once aliases are expanded (a recursive alias is an error
 * too). A file over 16 MiB is ERROR_USAGE "PATH: ..." with no position.
 * ERROR_IO with the errno text when the file cannot be opened or read.
 */
int document_load(const char *path, struct doc_node **root,
                  struct error *err) MUST_CHECK;

/*
 * The same from memory: len bytes of text are read (no NUL needed; text
 * may be NULL when len is 0). name is used in messages in place of PATH.
 */
int document_parse(const char *text, size_t len, const char *name,
                   struct doc_node **root, struct error *err) MUST_CHECK;

/* Free a tree from document_load or document_parse. NULL-safe. */
void document_free(struct doc_node *root);

/*
 * The value of key in a mapping (NULL if absent or map is not a mapping).
 * Borrowed: valid while the tree lives. Keys compare by their exact text.
 */
const struct doc_node *document_get(const struct doc_node *map,
                                    const char *key);

/* "mapping", "list" or "value": for messages. Static. */
const char *document_type_name(enum doc_type t);

#endif
