/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/core/verify.c: per-block hashes of a snapshot, and their comparison.
 */
#include "rbdmove/core/verify.h"

#include <errno.h>
#include <inttypes.h>
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

struct hash_slot {
    char *buf;
    uint64_t index;
    struct image_aio *aio;
};

static int hash_touched(struct image *img, struct touched *t, unsigned window,
                        progress_fn *progress, void *pctx,
                        struct dest_hashes *h, struct error *err)
{
    struct hash_slot *slots = xcalloc(window, sizeof(*slots));
    uint64_t head = 0, tail = 0, next = 0, done = 0;
    int ret = -1;

    for (unsigned i = 0; i < window; i++) {
        slots[i].buf = malloc(t->block);
        if (!slots[i].buf) {
            error_set(err, ERROR_IO, ENOMEM, "cannot allocate read buffers");
            goto out;
        }
    }
    for (;;) {
        while (tail - head < window && next < h->nblocks) {
            struct hash_slot *s = &slots[tail % window];

            if (!t->bits[next]) {
                next++;
                continue;
            }
            s->index = next++;
            if (image_aio_read(img, s->index * t->block,
                               block_len(h->size, t->block, s->index), s->buf,
                               &s->aio, err) < 0)
                goto out;
            tail++;
        }
        if (head == tail)
            break;
        struct hash_slot *s = &slots[head % window];
        uint64_t len = block_len(h->size, t->block, s->index);
        struct image_aio *a = s->aio;

        s->aio = NULL;
        head++;
        if (image_aio_wait(a, err) < 0)
            goto out;
        h->hash[s->index] = hash_xxh64(s->buf, len, 0);
        done += len;
        if (progress)
            progress(pctx, done, t->count * t->block);
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

int verify_hash_image(struct image *img, uint64_t block, unsigned window,
                      progress_fn *progress, void *progress_ctx,
                      struct dest_hashes *out, struct error *err)
{
    struct dest_hashes h = {block, image_size(img), 0, NULL};
    struct touched t = {NULL, block, 0};
    char *zeros = NULL;
    uint64_t zero_full, zero_last;
    int ret = -1;

    memset(out, 0, sizeof(*out));
    h.nblocks = (h.size + block - 1) / block;
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
    if (hash_touched(img, &t, window ? window : 8, progress, progress_ctx, &h,
                     err) < 0)
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
    struct dest_hashes h = {block, image_size(img), 0, NULL};
    struct touched t = {NULL, block, 0};
    int ret = -1;

    h.nblocks = (h.size + block - 1) / block;
    h.hash = xcalloc(h.nblocks + 1, sizeof(*h.hash));
    t.bits = xcalloc(h.nblocks + 1, 1);
    for (size_t i = 0; i < n; i++) {
        if (idx[i] >= h.nblocks) {
            error_set(err, ERROR_STATE, 0,
                      "block %" PRIu64 " lies beyond the end of '%s'", idx[i],
                      image_name(img));
            goto out;
        }
        if (!t.bits[idx[i]]) {
            t.bits[idx[i]] = 1;
            t.count++;
        }
    }
    if (hash_touched(img, &t, window ? window : 8, NULL, NULL, &h, err) < 0)
        goto out;
    for (size_t i = 0; i < n; i++)
        hashes[i] = h.hash[idx[i]];
    ret = 0;
out:
    free(h.hash);
    free(t.bits);
    return ret;
}

int verify_changed_blocks(struct image *img, const char *since, uint64_t block,
                          uint64_t **idx, size_t *n, struct error *err)
{
    uint64_t nblocks = (image_size(img) + block - 1) / block;
    struct touched t = {xcalloc(nblocks + 1, 1), block, 0};
    int ret = -1;

    *idx = NULL;
    *n = 0;
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
