/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_dest_remote.c: what the client of a remote destination
 * makes of its receiver's answers (issue 11). A scripted fake receiver,
 * a memory transport holding its answers, stands in for the SSH session:
 * good answers come through as before; every count, size, block and
 * offset out of its limits is an ERROR_PROTOCOL naming the field and the
 * value, never a crash (run these under ASan), and leaves the destination
 * broken, since the rest of such an answer is still unread.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rbdmove/base/buf.h"
#include "rbdmove/core/dest.h"
#include "rbdmove/core/image.h"
#include "rbdmove/core/proto.h"
#include "transport/transport.h"

/* hello, then "streams 1 0": the data session joins at this path. The
 * probe sent along with "streams" takes the next answer: the tests that
 * begin with something else give it ABSENT first. */
/* The receiver's greeting, in the protocol this build speaks. */
#define STR_(x) #x
#define STR(x) STR_(x)
#define VERSION "ok version=" STR(RECEIVER_PROTOCOL_VERSION) "\n"
#define HELLO VERSION "ok socket=/tmp/rbdmove-test/s\n"
#define ABSENT "ok exists=0 size=0 order=0 snaps=0\n"
#define MIB (1024u * 1024)

/* ---- the fake receiver --------------------------------------------------- */

struct fake {
    const char *hello;   /* the answers to hello and streams; NULL: HELLO */
    const char *answers; /* after the answer to hello */
    struct transport *ctl;
    struct buf script;
};

static int fake_exec(void *ctx, const char *command, struct transport **out,
                     struct error *err)
{
    struct fake *f = ctx;

    (void)err;
    /* A data session (from a thread of its own: touch nothing shared);
     * these tests make no transfer, so it carries nothing. */
    if (strstr(command, " receive --join ")) {
        *out = transport_memory_new("", 0, "fake stream");
        return 0;
    }
    assert_non_null(strstr(command, " receive --serve "));
    buf_adds(&f->script, f->hello ? f->hello : HELLO);
    buf_adds(&f->script, f->answers);
    f->ctl = transport_memory_new(buf_str(&f->script), f->script.len,
                                  "fake receiver");
    *out = f->ctl;
    return 0;
}

/* A destination whose receiver answers with answers, in order. */
static struct dest *open_fake(struct fake *f, const char *answers)
{
    struct dest_remote_params p = {0};
    struct dest *d = NULL;
    struct error err = ERROR_INIT;

    memset(f, 0, sizeof(*f));
    f->answers = answers;
    f->script = (struct buf)BUF_INIT;
    p.exec = fake_exec;
    p.exec_ctx = f;
    p.streams = 1;
    assert_int_equal(dest_remote_open(&p, "ssh://host/rbd/vol", NULL, "admin",
                                      "rbd", "vol", &d, &err),
                     0);
    return d;
}

static void close_fake(struct fake *f, struct dest *d)
{
    dest_free(d);
    buf_release(&f->script);
}

/* The requests the client sent so far, after its hello and streams. */
static const char *sent(struct fake *f)
{
    static char copy[4096];
    size_t len = 0;
    const char *out = transport_memory_output(f->ctl, &len);
    size_t skip = strlen("hello\nstreams 1 0\nprobe\n");

    assert_true(len >= skip && len - skip < sizeof(copy));
    memcpy(copy, out + skip, len - skip);
    copy[len - skip] = '\0';
    return copy;
}

/* err is a protocol error whose message holds each of the strings, and d
 * refuses anything further. */
static void expect_protocol(struct dest *d, const struct error *err,
                            const char *s1, const char *s2)
{
    struct dest_state st;
    struct error again = ERROR_INIT;

    assert_int_equal(err->kind, ERROR_PROTOCOL);
    if (s1 && !strstr(err->msg, s1))
        fail_msg("'%s' not in '%s'", s1, err->msg);
    if (s2 && !strstr(err->msg, s2))
        fail_msg("'%s' not in '%s'", s2, err->msg);
    assert_int_equal(dest_probe(d, &st, &again), -1);
    assert_int_equal(again.kind, ERROR_STATE);
    assert_non_null(strstr(again.msg, "was lost"));
}

/* Probe with answer; expect a protocol error naming s1 and s2. */
static void probe_fails(const char *answer, const char *s1, const char *s2)
{
    struct fake f;
    struct dest *d = open_fake(&f, answer);
    struct dest_state st;
    struct error err = ERROR_INIT;

    assert_int_equal(dest_probe(d, &st, &err), -1);
    assert_null(st.snaps);
    assert_int_equal(st.nsnaps, 0);
    expect_protocol(d, &err, s1, s2);
    close_fake(&f, d);
}

/* ---- probe --------------------------------------------------------------- */

/* The first probe went out with "streams" and its answer waits for the
 * first dest_probe; a second one is a request of its own. */
#define GOOD_PROBE                                                             \
    "ok exists=1 size=10485760 order=22 id=abc123 base=v1%20x "                \
    "snaps=2\nrbdmove-1 4 10485760\nsnap%20two 18446744073709551615 0\n"

static void test_remote_probe_reads_a_good_answer(void **state)
{
    struct fake f;
    struct dest *d = open_fake(&f, GOOD_PROBE GOOD_PROBE);
    struct dest_state st;
    struct error err = ERROR_INIT;

    (void)state;
    for (int round = 0; round < 2; round++) {
        assert_int_equal(dest_probe(d, &st, &err), 0);
        assert_true(st.exists);
        assert_int_equal(st.size, 10 * MIB);
        assert_int_equal(st.order, 22);
        assert_string_equal(st.image_id, "abc123");
        assert_string_equal(st.meta_base, "v1 x");
        assert_null(st.meta_seed);
        assert_int_equal(st.nsnaps, 2);
        assert_string_equal(st.snaps[0].name, "rbdmove-1");
        assert_int_equal(st.snaps[0].id, 4);
        assert_int_equal(st.snaps[0].size, 10 * MIB);
        assert_string_equal(st.snaps[1].name, "snap two");
        assert_int_equal(st.snaps[1].id, UINT64_MAX);
        assert_string_equal(sent(&f), round ? "probe\n" : "");
        dest_state_release(&st);
    }
    close_fake(&f, d);
}

static void test_remote_probe_of_an_absent_image(void **state)
{
    struct fake f;
    struct dest *d = open_fake(&f, "ok exists=0 size=0 order=0 id= snaps=0\n");
    struct dest_state st;
    struct error err = ERROR_INIT;

    (void)state;
    assert_int_equal(dest_probe(d, &st, &err), 0);
    assert_false(st.exists);
    assert_int_equal(st.nsnaps, 0);
    dest_state_release(&st);
    close_fake(&f, d);
}

/* The heap overflow of issue 11: xcalloc(n + 1) of one element. */
static void test_remote_probe_refuses_snaps_near_2_64(void **state)
{
    (void)state;
    probe_fails("ok exists=1 size=4096 order=22 id=a "
                "snaps=18446744073709551615\nx 1 1\nx 2 2\n",
                "snaps", "18446744073709551615");
    probe_fails("ok exists=1 size=4096 order=22 id=a snaps=65537\n", "snaps",
                "65537");
}

static void test_remote_probe_refuses_malformed_numbers(void **state)
{
    (void)state;
    probe_fails("ok exists=1 size=4096 order=22 id=a snaps=-1\n", "snaps",
                "'-1'");
    probe_fails("ok exists=1 size=4096 order=22 id=a snaps=%2B1\n", "snaps",
                "'+1'");
    probe_fails("ok exists=1 size=4096 order=22 id=a snaps=%201\n", "snaps",
                "' 1'");
    probe_fails("ok exists=1 size=4096 order=22 id=a snaps=two\n", "snaps",
                "'two'");
    probe_fails("ok exists=1 size=4096 order=22 id=a snaps=\n", "snaps", NULL);
    probe_fails("ok exists=1 size=4096 order=22 id=a\n", "lacks 'snaps'", NULL);
    probe_fails("ok exists=1 size=18446744073709551616 order=22 id=a "
                "snaps=0\n",
                "size", "18446744073709551616");
}

static void test_remote_probe_refuses_out_of_range_fields(void **state)
{
    (void)state;
    probe_fails("ok exists=2 size=4096 order=22 id=a snaps=0\n", "exists",
                "'2'");
    probe_fails("ok exists=1 size=18014398509481985 order=22 id=a snaps=0\n",
                "size", "18014398509481985");
    probe_fails("ok exists=1 size=4096 order=64 id=a snaps=0\n", "order",
                "'64'");
    probe_fails("ok exists=1 size=4096 order=0 id=a snaps=0\n", "order", "'0'");
}

static void test_remote_probe_refuses_bad_snapshot_lines(void **state)
{
    (void)state;
    probe_fails("ok exists=1 size=4096 order=22 id=a snaps=2\nx 1 4096\n",
                "cut", NULL);
    probe_fails("ok exists=1 size=4096 order=22 id=a snaps=1\nx -1 4096\n",
                "snapshot id", "'-1'");
    probe_fails("ok exists=1 size=4096 order=22 id=a snaps=1\nx 1 4k\n",
                "snapshot size", "'4k'");
    probe_fails("ok exists=1 size=4096 order=22 id=a snaps=1\n"
                "x 1 36028797018963968\n",
                "snapshot size", "36028797018963968");
    probe_fails("ok exists=1 size=4096 order=22 id=a snaps=1\nx 1\n",
                "malformed line", NULL);
}

/* ---- dirty --------------------------------------------------------------- */

#define PROBE_10M "ok exists=1 size=10485760 order=22 id=a snaps=0\n"

/* Probe (10 MiB), then dirty with answer; expect a protocol error. */
static void dirty_fails(const char *answer, const char *s1, const char *s2)
{
    struct fake f;
    struct buf script = BUF_INIT;
    struct dest *d;
    struct dest_state st;
    struct dest_extents x;
    struct error err = ERROR_INIT;

    buf_adds(&script, PROBE_10M);
    buf_adds(&script, answer);
    d = open_fake(&f, buf_str(&script));
    assert_int_equal(dest_probe(d, &st, &err), 0);
    dest_state_release(&st);
    assert_int_equal(dest_dirty(d, "s1", &x, &err), -1);
    assert_int_equal(x.n, 0);
    assert_null(x.off);
    expect_protocol(d, &err, s1, s2);
    close_fake(&f, d);
    buf_release(&script);
}

static void test_remote_dirty_reads_a_good_answer(void **state)
{
    struct fake f;
    struct dest *d = open_fake(&f, PROBE_10M "ok n=3\n0 4194304\n"
                                             "4194304 4194304\n"
                                             "8388608 2097152\n");
    struct dest_state st;
    struct dest_extents x;
    struct error err = ERROR_INIT;

    (void)state;
    assert_int_equal(dest_probe(d, &st, &err), 0);
    dest_state_release(&st);
    assert_int_equal(dest_dirty(d, "s1", &x, &err), 0);
    assert_int_equal(x.n, 3);
    assert_int_equal(x.off[2], 8 * MIB);
    assert_int_equal(x.len[2], 2 * MIB);
    dest_extents_release(&x);
    assert_string_equal(sent(&f), "dirty s1\n");
    close_fake(&f, d);
}

static void test_remote_dirty_refuses_bad_counts(void **state)
{
    (void)state;
    dirty_fails("ok n=18446744073709551615\n0 4096\n", "invalid n ",
                "18446744073709551615");
    dirty_fails("ok n=268435457\n", "invalid n ", "268435457");
    dirty_fails("ok n=-1\n", "invalid n ", "'-1'");
    dirty_fails("ok n=2\n0 4096\n", "cut", NULL);
}

static void test_remote_dirty_refuses_bad_extents(void **state)
{
    (void)state;
    /* offset + length overflows */
    dirty_fails("ok n=1\n18446744073709547520 8192\n", "extent 0",
                "18446744073709547520");
    /* past the end of the 10 MiB image */
    dirty_fails("ok n=1\n8388608 4194304\n", "extent 0", "beyond the image");
    dirty_fails("ok n=1\n10485760 1\n", "extent 0", "beyond the image");
    /* empty, overlapping, descending */
    dirty_fails("ok n=1\n0 0\n", "extent 0", "empty");
    dirty_fails("ok n=2\n0 8192\n4096 4096\n", "extent 1", "overlaps");
    dirty_fails("ok n=2\n8192 4096\n0 4096\n", "extent 1", "precedes");
    /* not numbers */
    dirty_fails("ok n=1\n-4096 4096\n", "extent offset", "'-4096'");
    dirty_fails("ok n=1\n0 0x1000\n", "extent length", "'0x1000'");
    dirty_fails("ok n=1\n0\n", "malformed line", NULL);
}

/* Without a probe the image's size is not known: PROTO_SIZE_MAX bounds. */
static void test_remote_dirty_before_a_probe(void **state)
{
    struct fake f;
    struct dest *d = open_fake(&f, ABSENT "ok n=1\n18014398509481984 1\n");
    struct dest_extents x;
    struct error err = ERROR_INIT;

    (void)state;
    assert_int_equal(dest_dirty(d, NULL, &x, &err), -1);
    expect_protocol(d, &err, "extent 0", "beyond the image");
    close_fake(&f, d);
}

/* A resize moves the end the extents are checked against. */
static void test_remote_dirty_after_a_resize(void **state)
{
    struct fake f;
    struct dest *d = open_fake(&f, PROBE_10M "ok\nok n=1\n16777216 4096\n");
    struct dest_state st;
    struct dest_extents x;
    struct error err = ERROR_INIT;

    (void)state;
    assert_int_equal(dest_probe(d, &st, &err), 0);
    dest_state_release(&st);
    assert_int_equal(dest_resize(d, 20 * MIB, &err), 0);
    assert_int_equal(dest_dirty(d, NULL, &x, &err), 0);
    assert_int_equal(x.n, 1);
    dest_extents_release(&x);
    close_fake(&f, d);
}

/* ---- hash ---------------------------------------------------------------- */

#define H1 "0123456789abcdef\n"

static void hash_fails(const char *answer, const char *s1, const char *s2)
{
    struct fake f;
    struct buf script = BUF_INIT;
    struct dest *d;
    struct dest_hashes h;
    struct error err = ERROR_INIT;

    buf_adds(&script, ABSENT);
    buf_adds(&script, answer);
    d = open_fake(&f, buf_str(&script));
    assert_int_equal(dest_hash(d, "s1", 4 * MIB, &h, &err), -1);
    assert_null(h.hash);
    expect_protocol(d, &err, s1, s2);
    close_fake(&f, d);
    buf_release(&script);
}

static void test_remote_hash_reads_a_good_answer(void **state)
{
    struct fake f;
    struct dest *d =
        open_fake(&f, ABSENT "ok size=10485760 block=4194304 n=3\n" H1
                             "ffffffffffffffff\n" H1);
    struct dest_hashes h;
    struct error err = ERROR_INIT;

    (void)state;
    assert_int_equal(dest_hash(d, NULL, 4 * MIB, &h, &err), 0);
    assert_int_equal(h.size, 10 * MIB);
    assert_int_equal(h.block, 4 * MIB);
    assert_int_equal(h.nblocks, 3);
    assert_int_equal(h.hash[0], 0x0123456789abcdefull);
    assert_int_equal(h.hash[1], UINT64_MAX);
    assert_string_equal(sent(&f), "hash - 4194304\n");
    dest_hashes_release(&h);
    close_fake(&f, d);
}

static void test_remote_hash_of_an_empty_image(void **state)
{
    struct fake f;
    struct dest *d = open_fake(&f, ABSENT "ok size=0 block=4194304 n=0\n");
    struct dest_hashes h;
    struct error err = ERROR_INIT;

    (void)state;
    assert_int_equal(dest_hash(d, "s1", 4 * MIB, &h, &err), 0);
    assert_int_equal(h.nblocks, 0);
    dest_hashes_release(&h);
    close_fake(&f, d);
}

/* Many hashes: the array grows past its first 4096 as lines arrive. */
static void test_remote_hash_reads_many_blocks(void **state)
{
    struct fake f;
    struct buf script = BUF_INIT;
    struct dest *d;
    struct dest_hashes h;
    struct error err = ERROR_INIT;
    const uint64_t n = 10000;

    (void)state;
    buf_adds(&script, ABSENT);
    buf_addf(&script, "ok size=%llu block=4096 n=%llu\n",
             (unsigned long long)(n * 4096 - 1), (unsigned long long)n);
    for (uint64_t i = 0; i < n; i++)
        buf_addf(&script, "%016llx\n", (unsigned long long)i * 3);
    d = open_fake(&f, buf_str(&script));
    assert_int_equal(dest_hash(d, "s1", 4096, &h, &err), 0);
    assert_int_equal(h.nblocks, n);
    assert_int_equal(h.hash[n - 1], (n - 1) * 3);
    dest_hashes_release(&h);
    close_fake(&f, d);
    buf_release(&script);
}

/* block=0 used to divide by zero. */
static void test_remote_hash_refuses_bad_blocks(void **state)
{
    (void)state;
    hash_fails("ok size=10485760 block=0 n=0\n", "block", "'0'");
    hash_fails("ok size=10485760 block=4095 n=2561\n", "block", "'4095'");
    hash_fails("ok size=10485760 block=134217728 n=1\n", "block", "134217728");
    /* in range, but not what was asked: 6 MiB */
    hash_fails("ok size=10485760 block=6291456 n=2\n", "6291456", "4194304");
}

static void test_remote_hash_refuses_bad_counts(void **state)
{
    (void)state;
    /* nblocks + 1 overflowed into xcalloc(0) */
    hash_fails("ok size=10485760 block=4194304 n=18446744073709551615\n" H1,
               "invalid n ", "18446744073709551615");
    hash_fails("ok size=18014398509481984 block=4194304 n=268435457\n",
               "invalid n ", "268435457");
    /* nblocks must be ceil(size / block): 3 here */
    hash_fails("ok size=10485760 block=4194304 n=2\n" H1 H1, "2 blocks",
               "10485760 bytes");
    hash_fails("ok size=10485760 block=4194304 n=4\n" H1 H1 H1 H1, "4 blocks",
               NULL);
    /* a size beyond the limit */
    hash_fails("ok size=18446744073709551615 block=4194304 n=1\n", "size",
               "18446744073709551615");
    hash_fails("ok size=10485760 n=3\n", "lacks 'block'", NULL);
}

static void test_remote_hash_refuses_bad_hash_lines(void **state)
{
    (void)state;
    /* too few hashes for the count promised */
    hash_fails("ok size=10485760 block=4194304 n=3\n" H1 H1, "cut", NULL);
    hash_fails("ok size=10485760 block=4194304 n=3\n" H1 H1 "xyz\n", "hash",
               "'xyz'");
    hash_fails("ok size=10485760 block=4194304 n=3\n" H1 H1 "-1\n", "hash",
               "'-1'");
    hash_fails("ok size=10485760 block=4194304 n=3\n" H1 H1
               "0123456789ABCDEF\n",
               "hash", "16 hex digits");
    hash_fails("ok size=10485760 block=4194304 n=3\n" H1 H1
               "0123456789abcdef0\n",
               "hash", NULL);
    hash_fails("ok size=10485760 block=4194304 n=3\n" H1 H1 "%1B%5B2J\n",
               "hash", "'?[2J'");
}

/* ---- hash-blocks --------------------------------------------------------- */

static void test_remote_hash_blocks_wants_exactly_n(void **state)
{
    const uint64_t idx[2] = {3, 7};
    uint64_t hashes[2] = {0, 0};
    struct fake f;
    struct dest *d = open_fake(&f, ABSENT "ok n=2\n" H1 "0000000000000001\n"
                                          "ok n=3\n" H1 H1 H1);
    struct error err = ERROR_INIT;

    (void)state;
    assert_int_equal(dest_hash_blocks(d, NULL, 65536, idx, 2, hashes, &err), 0);
    assert_int_equal(hashes[0], 0x0123456789abcdefull);
    assert_int_equal(hashes[1], 1);
    assert_string_equal(sent(&f), "hash-blocks - 65536 3%2C7\n");
    assert_int_equal(dest_hash_blocks(d, NULL, 65536, idx, 2, hashes, &err),
                     -1);
    expect_protocol(d, &err, "invalid n ", "'3'");
    close_fake(&f, d);
}

/* A large final round goes in batches that each fit a protocol line. */
static void test_remote_hash_blocks_in_batches(void **state)
{
    enum { N = 40000, BATCH = 16384 };
    uint64_t *idx = calloc(N, sizeof(*idx));
    uint64_t *hashes = calloc(N, sizeof(*hashes));
    struct buf answers = BUF_INIT;
    struct fake f;
    struct dest *d;
    struct error err = ERROR_INIT;
    const char *out, *p;
    size_t requests = 0, len = 0;

    (void)state;
    for (size_t i = 0; i < N; i++)
        idx[i] = 1000000000ull + i;
    buf_adds(&answers, ABSENT);
    for (size_t i = 0; i < N; i += BATCH) {
        size_t k = N - i < BATCH ? N - i : BATCH;

        buf_addf(&answers, "ok n=%zu\n", k);
        for (size_t j = 0; j < k; j++)
            buf_addf(&answers, "%016zx\n", i + j);
    }
    d = open_fake(&f, buf_str(&answers));
    assert_int_equal(dest_hash_blocks(d, NULL, 65536, idx, N, hashes, &err), 0);
    assert_int_equal(hashes[0], 0);
    assert_int_equal(hashes[N - 1], N - 1);
    out = transport_memory_output(f.ctl, &len);
    for (const char *line = out + strlen("hello\nstreams 1 0\nprobe\n");
         line < out + len; line = p + 1) {
        p = memchr(line, '\n', (size_t)(out + len - line));
        assert_non_null(p);
        assert_true((size_t)(p - line) < PROTO_LINE_MAX);
        requests++;
    }
    assert_int_equal(requests, 3);
    close_fake(&f, d);
    buf_release(&answers);
    free(idx);
    free(hashes);
}

static void test_remote_hash_blocks_refuses_few_hashes(void **state)
{
    const uint64_t idx[2] = {3, 7};
    uint64_t hashes[2] = {0, 0};
    struct fake f;
    struct dest *d = open_fake(&f, ABSENT "ok n=2\n" H1);
    struct error err = ERROR_INIT;

    (void)state;
    assert_int_equal(dest_hash_blocks(d, NULL, 65536, idx, 2, hashes, &err),
                     -1);
    expect_protocol(d, &err, "cut", NULL);
    close_fake(&f, d);
}

/* ---- error answers ------------------------------------------------------- */

static void test_remote_error_answer_comes_back(void **state)
{
    struct fake f;
    struct dest *d = open_fake(&f, ABSENT "err 8 2 no%20such%20snapshot\n");
    struct error err = ERROR_INIT;

    (void)state;
    assert_int_equal(dest_snap_remove(d, "s1", &err), -1);
    assert_int_equal(err.kind, ERROR_STATE);
    assert_int_equal(err.cause, 2);
    assert_string_equal(err.msg, "no such snapshot");
    close_fake(&f, d);
}

/* dest_batch: a seed's create and mark go out with the next request, in
 * one packet, and their answers are read before its own. Each after the
 * first is chained ("&&"): the receiver does it only if the one before
 * succeeded. */
static void test_remote_batch_sends_with_the_next(void **state)
{
    struct fake f;
    struct dest *d = open_fake(&f, ABSENT "ok\nok\n" PROBE_10M);
    struct dest_state st;
    struct error err = ERROR_INIT;

    (void)state;
    assert_int_equal(dest_probe(d, &st, &err), 0); /* the early one */
    dest_state_release(&st);
    dest_batch(d);
    assert_int_equal(dest_create(d, 10485760, 22, &err), 0);
    assert_int_equal(dest_set_meta(d, "rbdmove.seed", "m 1", &err), 0);
    assert_string_equal(sent(&f), ""); /* nothing yet */
    assert_int_equal(dest_probe(d, &st, &err), 0);
    assert_int_equal(st.size, 10485760);
    dest_state_release(&st);
    assert_string_equal(sent(&f),
                        "create 10485760 22\n%26%26 meta rbdmove.seed m%201\n"
                        "%26%26 probe\n");
    close_fake(&f, d);
}

/* A held-back create that failed is the next request's failure, and the
 * session is out of step after it. */
static void test_remote_batch_failure_comes_with_the_next(void **state)
{
    struct fake f;
    struct dest *d =
        open_fake(&f, ABSENT "err 8 17 image%20exists\nok\n" PROBE_10M);
    struct dest_state st;
    struct error err = ERROR_INIT;

    (void)state;
    assert_int_equal(dest_probe(d, &st, &err), 0);
    dest_state_release(&st);
    dest_batch(d);
    assert_int_equal(dest_create(d, 10485760, 22, &err), 0);
    assert_int_equal(dest_set_meta(d, "k", "v", &err), 0);
    assert_int_equal(dest_probe(d, &st, &err), -1);
    assert_int_equal(err.kind, ERROR_STATE);
    assert_string_equal(err.msg, "image exists");
    assert_int_equal(dest_probe(d, &st, &err), -1);
    assert_non_null(strstr(err.msg, "was lost"));
    close_fake(&f, d);
}

/* Without dest_batch, create and meta are requests of their own. */
static void test_remote_no_batch_no_wait(void **state)
{
    struct fake f;
    struct dest *d = open_fake(&f, ABSENT "ok\n");
    struct error err = ERROR_INIT;

    (void)state;
    assert_int_equal(dest_set_meta(d, "k", "v", &err), 0);
    assert_string_equal(sent(&f), "meta k v\n");
    close_fake(&f, d);
}

/* A failback's --discard-primary-changes over SSH: the receiver rolls
 * its image back (protocol 5), and its refusal comes back as it was. */
static void test_remote_rollback_is_a_request(void **state)
{
    struct fake f;
    struct dest *d =
        open_fake(&f, ABSENT "ok\nerr 8 2 snapshot%20'p%201'%20not%20found\n");
    struct error err = ERROR_INIT;

    (void)state;
    assert_int_equal(dest_rollback(d, "rbdmove-1", &err), 0);
    assert_int_equal(dest_rollback(d, "p 1", &err), -1);
    assert_int_equal(err.kind, ERROR_STATE);
    assert_string_equal(err.msg, "snapshot 'p 1' not found");
    assert_string_equal(sent(&f), "rollback rbdmove-1\nrollback p%201\n");
    close_fake(&f, d);
}

static void error_answer_fails(const char *answer, const char *s1)
{
    struct fake f;
    struct buf script = BUF_INIT;
    struct dest *d;
    struct error err = ERROR_INIT;

    buf_adds(&script, ABSENT);
    buf_adds(&script, answer);
    d = open_fake(&f, buf_str(&script));
    assert_int_equal(dest_snap_remove(d, "s1", &err), -1);
    expect_protocol(d, &err, s1, NULL);
    close_fake(&f, d);
    buf_release(&script);
}

/* Kind 0 was a failure with no error in it. */
static void test_remote_error_answer_must_be_numbers(void **state)
{
    (void)state;
    error_answer_fails("err 0 0 x\n", "error kind");
    error_answer_fails("err ceph 0 x\n", "error kind");
    error_answer_fails("err 2 -5 x\n", "error cause");
    error_answer_fails("err 2 2147483648 x\n", "error cause");
}

/* The socket the data sessions join is a path the client checks before
 * it reaches a remote command line. */
static void test_remote_refuses_unsafe_socket_paths(void **state)
{
    static const char *const bad[] = {
        VERSION "ok socket=relative/s\n",
        VERSION "ok socket=/tmp/x;reboot\n",
        VERSION "ok socket=/tmp/a%20b\n",
        VERSION "ok\n",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct dest_remote_params p = {0};
        struct fake f;
        struct dest *d = NULL;
        struct error err = ERROR_INIT;

        memset(&f, 0, sizeof(f));
        f.hello = bad[i];
        f.answers = "";
        f.script = (struct buf)BUF_INIT;
        p.exec = fake_exec;
        p.exec_ctx = &f;
        p.streams = 2;
        assert_int_equal(dest_remote_open(&p, "ssh://host/rbd/vol", NULL,
                                          "admin", "rbd", "vol", &d, &err),
                         -1);
        assert_null(d);
        assert_int_equal(err.kind, ERROR_PROTOCOL);
        assert_non_null(strstr(err.msg, "socket"));
        buf_release(&f.script);
    }
}

/* Without --streams the receiver is asked for the most the round trip
 * could call for; the round trip of "streams" (not of hello, whose answer
 * waits for the program's start) decides how many join: here, in memory,
 * one. */
static int joins;

static int counting_exec(void *ctx, const char *command, struct transport **out,
                         struct error *err)
{
    if (strstr(command, " receive --join "))
        __atomic_add_fetch(&joins, 1, __ATOMIC_SEQ_CST);
    return fake_exec(ctx, command, out, err);
}

static void test_remote_auto_streams_asks_for_the_most(void **state)
{
    struct dest_remote_params p = {0};
    struct fake f;
    struct dest *d = NULL;
    struct error err = ERROR_INIT;
    const char *out;
    size_t len;

    (void)state;
    memset(&f, 0, sizeof(f));
    f.answers = ABSENT;
    f.script = (struct buf)BUF_INIT;
    p.exec = counting_exec;
    p.exec_ctx = &f;
    joins = 0;
    assert_int_equal(dest_remote_open(&p, "ssh://host/rbd/vol", NULL, "admin",
                                      "rbd", "vol", &d, &err),
                     0);
    out = transport_memory_output(f.ctl, &len);
    assert_true(len >= strlen("hello\nstreams 8 0\nprobe\n"));
    assert_memory_equal(out, "hello\nstreams 8 0\nprobe\n",
                        strlen("hello\nstreams 8 0\nprobe\n"));
    close_fake(&f, d);
    assert_int_equal(joins, 1);
}

/* dest_remote_exec_hint_fn (SSH): the receiver is started greeting. */
static char *greet_command;

static int greeting_exec(void *ctx, const char *command,
                         dest_remote_verified_fn *verified, void *arg,
                         struct transport **out, struct error *err)
{
    (void)verified;
    (void)arg;
    free(greet_command);
    greet_command = strdup(command);
    return fake_exec(ctx, command, out, err);
}

/* Over SSH the receiver answers hello and streams unasked (--greet, with
 * the streams and zstd level the client would have asked for): only the
 * probe is sent, and the greeting's answers are read before its own. */
static void test_remote_greeted_sends_only_the_probe(void **state)
{
    struct dest_remote_params p = {0};
    struct fake f;
    struct dest *d = NULL;
    struct error err = ERROR_INIT;
    struct dest_state st;
    const char *out;
    size_t len;

    (void)state;
    memset(&f, 0, sizeof(f));
    f.answers = "ok exists=1 size=4096 order=22 id=abc snaps=0\n";
    f.script = (struct buf)BUF_INIT;
    p.exec = fake_exec; /* the data sessions */
    p.exec_hint = greeting_exec;
    p.exec_ctx = &f;
    p.streams = 3;
    p.compress_level = 5;
    assert_int_equal(dest_remote_open(&p, "ssh://host/rbd/vol", NULL, "admin",
                                      "rbd", "vol", &d, &err),
                     0);
    assert_non_null(strstr(greet_command, " receive --serve --greet 3,5 "));
    out = transport_memory_output(f.ctl, &len);
    assert_int_equal(len, strlen("probe\n"));
    assert_memory_equal(out, "probe\n", len);
    assert_int_equal(dest_probe(d, &st, &err), 0);
    assert_true(st.exists);
    assert_int_equal(st.size, 4096);
    dest_state_release(&st);
    close_fake(&f, d);
    free(greet_command);
    greet_command = NULL;
}

/* dest_remote_stream_fn of a host that allows direct channels: the data
 * session is one end of a pair, the fake keeps the other. */
struct direct_fake {
    struct fake f;
    struct transport *far;
    char *path, *command;
    bool abandoned;
};

static int fake_stream(void *ctx, dest_remote_await_fn *await, void *await_arg,
                       struct transport **out, bool *direct, struct error *err)
{
    struct direct_fake *df = (struct direct_fake *)ctx;
    const char *socket_path, *command;

    /* Logged in; now where to. */
    if (await(await_arg, &socket_path, &command) < 0) {
        __atomic_store_n(&df->abandoned, true, __ATOMIC_SEQ_CST);
        return error_set(err, ERROR_STATE, 0, "not wanted");
    }
    df->path = strdup(socket_path);
    df->command = strdup(command);
    transport_memory_pair("data session", "receiver's socket", out, &df->far);
    *direct = true;
    return 0;
}

/* A data session that logged in early (--streams given) while the
 * receiver then names an unusable socket: it is let go, nothing hangs. */
static void test_remote_early_login_let_go(void **state)
{
    struct dest_remote_params p = {0};
    struct direct_fake df;
    struct dest *d = NULL;
    struct error err = ERROR_INIT;

    (void)state;
    memset(&df, 0, sizeof(df));
    df.f.hello = VERSION "ok socket=relative/s\n";
    df.f.answers = "";
    df.f.script = (struct buf)BUF_INIT;
    p.exec = fake_exec;
    p.stream = fake_stream;
    p.exec_ctx = &df;
    p.streams = 2;
    assert_int_equal(dest_remote_open(&p, "ssh://host/rbd/vol", NULL, "admin",
                                      "rbd", "vol", &d, &err),
                     -1);
    assert_int_equal(err.kind, ERROR_PROTOCOL);
    assert_null(d);
    assert_true(df.abandoned);
    assert_null(df.path);
    buf_release(&df.f.script);
}

static void test_remote_direct_data_session_says_so(void **state)
{
    struct dest_remote_params p = {0};
    struct direct_fake df;
    struct dest *d = NULL;
    struct error err = ERROR_INIT;
    char got[16];
    ssize_t n;

    (void)state;
    memset(&df, 0, sizeof(df));
    df.f.answers = ABSENT;
    df.f.script = (struct buf)BUF_INIT;
    p.exec = fake_exec;
    p.stream = fake_stream;
    p.exec_ctx = &df; /* df.f first: fake_exec sees its struct fake */
    p.streams = 1;
    assert_int_equal(dest_remote_open(&p, "ssh://host/rbd/vol", NULL, "admin",
                                      "rbd", "vol", &d, &err),
                     0);
    dest_free(d); /* joins the opener */
    assert_string_equal(df.path, "/tmp/rbdmove-test/s");
    /* The fallback where the host refuses: the join, quoted. */
    assert_non_null(
        strstr(df.command, " receive --join '/tmp/rbdmove-test/s'"));
    /* "D": the data follows on this connection; then its end. */
    n = transport_read(df.far, got, sizeof(got), &err);
    assert_int_equal(n, 1);
    assert_int_equal(got[0], 'D');
    assert_int_equal(transport_read(df.far, got, sizeof(got), &err), 0);
    transport_free(df.far);
    free(df.path);
    free(df.command);
    buf_release(&df.f.script);
}

/* ---- logins started by the control session's key exchange ---------------- */

static int logins, joined;
static double hint_seconds, channel_rtt;

/* dest_remote_stream_fn counting the logins; each joins by command. */
static int counting_stream(void *ctx, dest_remote_await_fn *await,
                           void *await_arg, struct transport **out,
                           bool *direct, struct error *err)
{
    const char *path, *command;

    (void)ctx;
    (void)direct;
    __atomic_add_fetch(&logins, 1, __ATOMIC_SEQ_CST);
    if (await(await_arg, &path, &command) < 0)
        return error_set(err, ERROR_STATE, 0, "not wanted");
    __atomic_add_fetch(&joined, 1, __ATOMIC_SEQ_CST);
    *out = transport_memory_new("", 0, "fake stream");
    return 0;
}

/* dest_remote_exec_hint_fn: the host's key exchange took hint_seconds. */
static int hinted_exec(void *ctx, const char *command,
                       dest_remote_verified_fn *verified, void *arg,
                       struct transport **out, struct error *err)
{
    verified(arg, hint_seconds);
    if (fake_exec(ctx, command, out, err) < 0)
        return -1;
    (*out)->rtt = channel_rtt; /* 0: not measured */
    return 0;
}

/* How many data sessions log in, for a key exchange of seconds (the
 * control session's round trip is 0 here: memory). */
static int logins_for(double seconds, unsigned streams, uint64_t bwlimit)
{
    struct dest_remote_params p = {0};
    struct fake f;
    struct dest *d = NULL;
    struct error err = ERROR_INIT;

    memset(&f, 0, sizeof(f));
    f.answers = ABSENT;
    f.script = (struct buf)BUF_INIT;
    p.exec = fake_exec;
    p.exec_hint = hinted_exec;
    p.stream = counting_stream;
    p.exec_ctx = &f;
    p.streams = streams;
    p.bwlimit = bwlimit;
    logins = joined = 0;
    hint_seconds = seconds;
    assert_int_equal(dest_remote_open(&p, "ssh://host/rbd/vol", NULL, "admin",
                                      "rbd", "vol", &d, &err),
                     0);
    close_fake(&f, d); /* joins the logins */
    return __atomic_load_n(&logins, __ATOMIC_SEQ_CST);
}

/* A long link (a key exchange of 300 ms: about 100 ms a round trip) has
 * its data sessions log in during the control login, as many as that
 * estimate asks for; a short one waits for the control session's own
 * round trip (here in memory: one session); so does --bwlimit, whose
 * share per session needs the final number; --streams logs in at once. */
static void test_remote_logins_start_with_the_key_exchange(void **state)
{
    (void)state;
    assert_int_equal(logins_for(0.300, 0, 0), 8);
    assert_int_equal(logins_for(0.090, 0, 0), 3);
    assert_int_equal(logins_for(0.010, 0, 0), 1);
    assert_int_equal(logins_for(0.300, 0, 1000000), 1);
    assert_int_equal(logins_for(0.010, 4, 0), 4);
    assert_int_equal(joined, 4);
}

/* The channel's round trip decides: a short one lets the surplus of an
 * estimate go (logged in, never joined); a long one adds to it. */
static void test_remote_round_trip_trims_or_adds_logins(void **state)
{
    (void)state;
    channel_rtt = 0.001;
    assert_int_equal(logins_for(0.300, 0, 0), 8);
    assert_int_equal(joined, 1);
    channel_rtt = 0.080;
    assert_int_equal(logins_for(0.150, 0, 0), 8); /* 5 early, 3 more */
    assert_int_equal(joined, 8);
    channel_rtt = 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_remote_refuses_unsafe_socket_paths),
        cmocka_unit_test(test_remote_direct_data_session_says_so),
        cmocka_unit_test(test_remote_early_login_let_go),
        cmocka_unit_test(test_remote_logins_start_with_the_key_exchange),
        cmocka_unit_test(test_remote_round_trip_trims_or_adds_logins),
        cmocka_unit_test(test_remote_auto_streams_asks_for_the_most),
        cmocka_unit_test(test_remote_greeted_sends_only_the_probe),
        cmocka_unit_test(test_remote_probe_reads_a_good_answer),
        cmocka_unit_test(test_remote_probe_of_an_absent_image),
        cmocka_unit_test(test_remote_probe_refuses_snaps_near_2_64),
        cmocka_unit_test(test_remote_probe_refuses_malformed_numbers),
        cmocka_unit_test(test_remote_probe_refuses_out_of_range_fields),
        cmocka_unit_test(test_remote_probe_refuses_bad_snapshot_lines),
        cmocka_unit_test(test_remote_dirty_reads_a_good_answer),
        cmocka_unit_test(test_remote_dirty_refuses_bad_counts),
        cmocka_unit_test(test_remote_dirty_refuses_bad_extents),
        cmocka_unit_test(test_remote_dirty_before_a_probe),
        cmocka_unit_test(test_remote_dirty_after_a_resize),
        cmocka_unit_test(test_remote_hash_reads_a_good_answer),
        cmocka_unit_test(test_remote_hash_of_an_empty_image),
        cmocka_unit_test(test_remote_hash_reads_many_blocks),
        cmocka_unit_test(test_remote_hash_refuses_bad_blocks),
        cmocka_unit_test(test_remote_hash_refuses_bad_counts),
        cmocka_unit_test(test_remote_hash_refuses_bad_hash_lines),
        cmocka_unit_test(test_remote_hash_blocks_wants_exactly_n),
        cmocka_unit_test(test_remote_hash_blocks_in_batches),
        cmocka_unit_test(test_remote_hash_blocks_refuses_few_hashes),
        cmocka_unit_test(test_remote_error_answer_comes_back),
        cmocka_unit_test(test_remote_rollback_is_a_request),
        cmocka_unit_test(test_remote_batch_sends_with_the_next),
        cmocka_unit_test(test_remote_batch_failure_comes_with_the_next),
        cmocka_unit_test(test_remote_no_batch_no_wait),
        cmocka_unit_test(test_remote_error_answer_must_be_numbers),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
