/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/core/verify.c: per-block hashes of a snapshot, and their comparison.
 */
#include "rbdmove/core/verify.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "rbdmove/base/hash.h"
#include "rbdmove/core/image.h"
#include "rbdmove/base/xalloc.h"

struct touched {
    uint8_t *bits; /* one per block */
    uint64_t block;
    uint64_t count;
};

static int mark_block(void *ctx, uint64_t off, uint64_t len, bool exists,
                      struct error *err)
{
    struct touched *t = ctx;

    (void)err;
    (void)exists; /* a discarded range still needs a look: cheap */
    for (uint64_t b = off / t->block; b * t->block < off + len; b++) {
        if (!t->bits[b]) {
            t->bits[b] = 1;
            t->count++;
        }
    }
    return 0;
}

static uint64_t block_len(uint64_t size, uint64_t block, uint64_t i)
{
    uint64_t off = i * block;

    return size - off < block ? size - off : block;
}

/*
 * The blocks to hash, one of two ways: every block whose bit is set
 * (a whole image, out[b] for block b), or a list of block indexes
 * (out[i] for list[i]: a final round's few blocks, without memory in
 * proportion to the image).
 */
struct block_walk {
    const uint8_t *bits; /* NULL: list */
    const uint64_t *list;
    uint64_t n;   /* blocks in bits, or entries in list */
    uint64_t pos; /* the next block (bits) or entry (list) */
};

/* The next block to hash and where its hash goes; false at the end. */
static bool walk_next(struct block_walk *w, uint64_t *block, uint64_t *slot)
{
    if (w->bits) {
        while (w->pos < w->n && !w->bits[w->pos])
            w->pos++;
        if (w->pos == w->n)
            return false;
        *block = *slot = w->pos++;
        return true;
    }
    if (w->pos == w->n)
        return false;
    *slot = w->pos;
    *block = w->list[w->pos++];
    return true;
}

struct hash_slot {
    char *buf;
    uint64_t index, out;
    struct image_aio *aio;
};

/* What the read buffers of one hashing may take, whatever the window and
 * block asked for: the window shrinks to fit (one block at least). */
#define HASH_BUFFERS_MAX (128u << 20)

unsigned verify_window(unsigned copy_window)
{
    if (!copy_window || copy_window >= VERIFY_WINDOW / 2)
        return VERIFY_WINDOW;
    return 2 * copy_window;
}

static unsigned hash_window(unsigned window, uint64_t block)
{
    uint64_t fit = HASH_BUFFERS_MAX / block;

    if (!window)
        window = 8;
    if (fit < 1)
        fit = 1;
    return window < fit ? window : (unsigned)fit;
}

/*
 * Read and hash the blocks w yields (of img, size bytes, in blocks of
 * block), window reads in flight, into hash[slot]. total is what progress
 * reports as the whole.
 */
static int hash_walk(struct image *img, uint64_t size, uint64_t block,
                     struct block_walk *w, unsigned window,
                     progress_fn *progress, void *pctx, uint64_t total,
                     uint64_t *hash, struct error *err)
{
    struct hash_slot *slots;
    uint64_t head = 0, tail = 0, done = 0;
    bool more = true;
    int ret = -1;

    window = hash_window(window, block);
    slots = xcalloc(window, sizeof(*slots));
    for (unsigned i = 0; i < window; i++) {
        slots[i].buf = malloc(block);
        if (!slots[i].buf) {
            error_set(err, ERROR_IO, ENOMEM, "cannot allocate read buffers");
            goto out;
        }
    }
    for (;;) {
        while (more && tail - head < window) {
            struct hash_slot *s = &slots[tail % window];

            more = walk_next(w, &s->index, &s->out);
            if (!more)
                break;
            if (image_aio_read(img, s->index * block,
                               block_len(size, block, s->index), s->buf,
                               &s->aio, err) < 0)
                goto out;
            tail++;
        }
        if (head == tail)
            break;
        struct hash_slot *s = &slots[head % window];
        uint64_t len = block_len(size, block, s->index);
        struct image_aio *a = s->aio;

        s->aio = NULL;
        head++;
        if (image_aio_wait(a, err) < 0)
            goto out;
        hash[s->out] = hash_xxh64(s->buf, len, 0);
        done += len;
        if (progress)
            progress(pctx, done, total);
    }
    ret = 0;
out:
    for (uint64_t q = head; q < tail; q++) {
        struct error ignored = ERROR_INIT;

        if (image_aio_wait(slots[q % window].aio, &ignored) < 0)
            error_clear(&ignored);
    }
    for (unsigned i = 0; i < window; i++)
        free(slots[i].buf);
    free(slots);
    return ret;
}

/* The blocks of img in blocks of block bytes, refused past
 * VERIFY_HASHES_MAX (the hashes alone would take 8 bytes each). */
static int count_blocks(struct image *img, uint64_t block, uint64_t *n,
                        struct error *err)
{
    *n = (image_size(img) + block - 1) / block;
    if (*n > VERIFY_HASHES_MAX)
        return error_set(err, ERROR_USAGE, 0,
                         "'%s' is %" PRIu64 " blocks of %" PRIu64
                         " bytes, more than the %" PRIu64
                         " that are hashed at once: use larger blocks",
                         image_name(img), *n, block,
                         (uint64_t)VERIFY_HASHES_MAX);
    return 0;
}

int verify_hash_image(struct image *img, uint64_t block, unsigned window,
                      progress_fn *progress, void *progress_ctx,
                      struct dest_hashes *out, struct error *err)
{
    struct dest_hashes h = {block, image_size(img), 0, NULL};
    struct touched t = {NULL, block, 0};
    struct block_walk w = {NULL, NULL, 0, 0};
    char *zeros = NULL;
    uint64_t zero_full, zero_last;
    int ret = -1;

    memset(out, 0, sizeof(*out));
    if (count_blocks(img, block, &h.nblocks, err) < 0)
        return -1;
    h.hash = xcalloc(h.nblocks + 1, sizeof(*h.hash));
    t.bits = xcalloc(h.nblocks + 1, 1);
    zeros = xcalloc(1, block);
    zero_full = hash_xxh64(zeros, block, 0);
    zero_last =
        h.nblocks
            ? hash_xxh64(zeros, block_len(h.size, block, h.nblocks - 1), 0)
            : 0;
    for (uint64_t i = 0; i < h.nblocks; i++)
        h.hash[i] = i + 1 == h.nblocks ? zero_last : zero_full;
    if (image_diff(img, NULL, 0, h.size, image_fast_diff_valid(img), mark_block,
                   &t, err) < 0)
        goto out;
    w.bits = t.bits;
    w.n = h.nblocks;
    if (hash_walk(img, h.size, block, &w, window, progress, progress_ctx,
                  t.count * block, h.hash, err) < 0)
        goto out;
    *out = h;
    h.hash = NULL;
    ret = 0;
out:
    free(h.hash);
    free(t.bits);
    free(zeros);
    return ret;
}

int verify_hash_blocks(struct image *img, uint64_t block, unsigned window,
                       const uint64_t *idx, size_t n, uint64_t *hashes,
                       struct error *err)
{
    uint64_t nblocks = (image_size(img) + block - 1) / block;
    struct block_walk w = {NULL, idx, n, 0};

    for (size_t i = 0; i < n; i++) {
        if (idx[i] >= nblocks)
            return error_set(err, ERROR_STATE, 0,
                             "block %" PRIu64 " lies beyond the end of '%s'",
                             idx[i], image_name(img));
    }
    return hash_walk(img, image_size(img), block, &w, window, NULL, NULL,
                     n * block, hashes, err);
}

int verify_changed_blocks(struct image *img, const char *since, uint64_t block,
                          uint64_t **idx, size_t *n, struct error *err)
{
    uint64_t nblocks;
    struct touched t = {NULL, block, 0};
    int ret = -1;

    *idx = NULL;
    *n = 0;
    if (count_blocks(img, block, &nblocks, err) < 0)
        return -1;
    t.bits = xcalloc(nblocks + 1, 1);
    if (image_diff(img, since, 0, image_size(img), false, mark_block, &t, err) <
        0)
        goto out;
    *idx = xcalloc(t.count + 1, sizeof(**idx));
    for (uint64_t b = 0; b < nblocks; b++) {
        if (t.bits[b])
            (*idx)[(*n)++] = b;
    }
    ret = 0;
out:
    free(t.bits);
    return ret;
}

uint64_t verify_compare(const struct dest_hashes *a,
                        const struct dest_hashes *b,
                        struct verify_range *ranges, uint64_t max)
{
    uint64_t n = a->nblocks < b->nblocks ? a->nblocks : b->nblocks;
    uint64_t found = 0;
    bool open = false;

    for (uint64_t i = 0; i < n; i++) {
        if (a->hash[i] == b->hash[i] && a->block == b->block) {
            open = false;
            continue;
        }
        if (open) {
            if (found <= max)
                ranges[found - 1].len += a->block;
            continue;
        }
        open = true;
        if (found < max)
            ranges[found] = (struct verify_range){i * a->block, a->block};
        found++;
    }
    if (a->size != b->size) {
        uint64_t lo = a->size < b->size ? a->size : b->size;
        uint64_t hi = a->size < b->size ? b->size : a->size;

        if (found < max)
            ranges[found] = (struct verify_range){lo, hi - lo};
        found++;
    }
    return found;
}
