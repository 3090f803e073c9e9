/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_transport.c: the parts of transport/ that need no
 * service: ssh target parsing, the memory back end, the zstd wrapper (round
 * trips, truncated and corrupt streams) and the rate limiter (bytes pass
 * unchanged; no timing asserts). The SSH back end itself is covered by
 * tests/integration/t05-ssh-transport.sh against a real sshd.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rbdmove/base/xalloc.h"
#include "transport/ssh.h"
#include "transport/transport.h"

/* ---- helpers ------------------------------------------------------------ */

/* Deterministic bytes that compress somewhat (runs and noise). */
static char *make_data(size_t len, uint32_t seed)
{
    char *p = xmalloc(len ? len : 1);
    uint32_t x = seed ? seed : 1;

    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (i / 4096) % 3 == 0 ? (char)(i & 0x7) : (char)x;
    }
    return p;
}

/* Read everything from t into a fresh buffer, in reads of at most step. */
static char *read_all(struct transport *t, size_t step, size_t *len,
                      struct error *err, int *rc)
{
    size_t cap = 65536, n = 0;
    char *p = xmalloc(cap);

    *rc = 0;
    for (;;) {
        ssize_t r;

        if (cap - n < step) {
            cap = cap * 2 + step;
            p = xrealloc(p, cap);
        }
        r = transport_read(t, p + n, step, err);
        if (r < 0) {
            *rc = -1;
            break;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    *len = n;
    return p;
}

/* ---- ssh targets ----------------------------------------------------------
 */

static void test_ssh_target_parses_user_host_port(void **state)
{
    struct transport_ssh_target t = TRANSPORT_SSH_TARGET_INIT;
    struct error err = ERROR_INIT;
    char *s;

    (void)state;
    assert_int_equal(
        transport_ssh_target_parse("backup@dr-1.example.org:2222", &t, &err),
        0);
    assert_string_equal(t.user, "backup");
    assert_string_equal(t.host, "dr-1.example.org");
    assert_int_equal(t.port, 2222);
    s = transport_ssh_target_format(&t);
    assert_string_equal(s, "backup@dr-1.example.org:2222");
    free(s);
    transport_ssh_target_release(&t);
    assert_null(t.user);
    assert_null(t.host);
}

static void test_ssh_target_defaults_user_and_port(void **state)
{
    struct transport_ssh_target t = TRANSPORT_SSH_TARGET_INIT;
    struct error err = ERROR_INIT;

    (void)state;
    assert_int_equal(transport_ssh_target_parse("10.0.0.7", &t, &err), 0);
    assert_null(t.user);
    assert_string_equal(t.host, "10.0.0.7");
    assert_int_equal(t.port, 22);
    transport_ssh_target_release(&t);
}

static void test_ssh_target_ipv6(void **state)
{
    struct transport_ssh_target t = TRANSPORT_SSH_TARGET_INIT;
    struct error err = ERROR_INIT;
    char *s;

    (void)state;
    assert_int_equal(transport_ssh_target_parse("root@[::1]:2222", &t, &err),
                     0);
    assert_string_equal(t.user, "root");
    assert_string_equal(t.host, "::1");
    assert_int_equal(t.port, 2222);
    s = transport_ssh_target_format(&t);
    assert_string_equal(s, "root@[::1]:2222");
    free(s);
    transport_ssh_target_release(&t);

    assert_int_equal(transport_ssh_target_parse("[fe80::1%eth0]", &t, &err), 0);
    assert_string_equal(t.host, "fe80::1%eth0");
    assert_int_equal(t.port, 22);
    transport_ssh_target_release(&t);

    /* Bare IPv6 without brackets: the whole thing is the host. */
    assert_int_equal(transport_ssh_target_parse("2001:db8::5", &t, &err), 0);
    assert_string_equal(t.host, "2001:db8::5");
    assert_int_equal(t.port, 22);
    transport_ssh_target_release(&t);
}

static void test_ssh_target_rejects_bad_input(void **state)
{
    static const char *const bad[] = {
        "",          "@host",      "user@",      "host:",
        "host:0",    "host:65536", "host:22x",   "[::1",
        "[::1]x",    "-oProxy=x",  "u@-host",    "a b@host",
        "host name", "user@ho'st", "us;er@host", "host:22:33x",
        "u@h@x",     "host\n",     "[]:22",
    };
    struct transport_ssh_target t = TRANSPORT_SSH_TARGET_INIT;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct error err = ERROR_INIT;

        if (transport_ssh_target_parse(bad[i], &t, &err) == 0)
            fail_msg("accepted '%s'", bad[i]);
        assert_int_equal(err.kind, ERROR_USAGE);
        assert_non_null(strstr(err.msg, "invalid ssh target"));
        assert_null(t.host);
        assert_null(t.user);
    }
}

/* ---- memory transport ------------------------------------------------------
 */

static void test_memory_reads_given_bytes_then_eof(void **state)
{
    struct error err = ERROR_INIT;
    struct transport *t = transport_memory_new("hello world", 11, "mem");
    char buf[32];

    (void)state;
    assert_int_equal(transport_read_full(t, buf, 5, &err), 0);
    assert_memory_equal(buf, "hello", 5);
    assert_int_equal(transport_read(t, buf, sizeof(buf), &err), 6);
    assert_memory_equal(buf, " world", 6);
    assert_int_equal(transport_read(t, buf, sizeof(buf), &err), 0);
    assert_int_equal(t->bytes_in, 11);
    assert_int_equal(transport_read_full(t, buf, 1, &err), -1);
    assert_int_equal(err.kind, ERROR_PROTOCOL);
    transport_free(t);
}

static void test_memory_collects_writes(void **state)
{
    struct error err = ERROR_INIT;
    struct transport *t = transport_memory_new(NULL, 0, "mem");
    char *big = make_data(3 << 20, 7);
    const void *out;
    size_t len;

    (void)state;
    assert_int_equal(transport_write(t, "abc", 3, &err), 0);
    assert_int_equal(transport_write(t, big, 3 << 20, &err), 0);
    out = transport_memory_output(t, &len);
    assert_int_equal(len, 3 + (3 << 20));
    assert_memory_equal(out, "abc", 3);
    assert_memory_equal((const char *)out + 3, big, 3 << 20);
    assert_int_equal(transport_close_write(t, &err), 0);
    assert_int_equal(transport_write(t, "x", 1, &err), -1);
    assert_int_equal(err.kind, ERROR_IO);
    assert_int_equal(transport_finish(t, &err), 0);
    assert_int_equal(t->bytes_out, 3 + (3 << 20));
    free(big);
    transport_free(t);
}

static void test_memory_faults_and_short_reads(void **state)
{
    struct error err = ERROR_INIT, want = ERROR_INIT;
    struct transport *t = transport_memory_new("0123456789", 10, "mem");
    char buf[16];

    (void)state;
    transport_memory_set_faults(t, 3, 6, 4);
    assert_int_equal(transport_read(t, buf, sizeof(buf), &err), 3);
    assert_int_equal(transport_read(t, buf, sizeof(buf), &err), 3);
    assert_int_equal(transport_read(t, buf, sizeof(buf), &err), -1);
    assert_int_equal(err.kind, ERROR_IO);
    assert_non_null(strstr(err.msg, "injected read failure on mem"));
    assert_int_equal(transport_write(t, "abcd", 4, &err), 0);
    assert_int_equal(transport_write(t, "e", 1, &err), -1);
    error_set(&want, ERROR_STATE, 3, "receiver said no");
    transport_memory_set_finish_error(t, &want);
    assert_int_equal(transport_finish(t, &err), -1);
    assert_int_equal(err.kind, ERROR_STATE);
    assert_int_equal(err.cause, 3);
    assert_string_equal(err.msg, "receiver said no");
    transport_free(t);
}

static void test_memory_pair_connects_both_ways(void **state)
{
    struct error err = ERROR_INIT;
    struct transport *a, *b;
    char buf[16];

    (void)state;
    transport_memory_pair("sender", "receiver", &a, &b);
    assert_string_equal(transport_name(a), "sender");
    assert_int_equal(transport_write(a, "ping", 4, &err), 0);
    assert_int_equal(transport_close_write(a, &err), 0);
    assert_int_equal(transport_read_full(b, buf, 4, &err), 0);
    assert_memory_equal(buf, "ping", 4);
    assert_int_equal(transport_read(b, buf, sizeof(buf), &err), 0);
    assert_int_equal(transport_write(b, "pong", 4, &err), 0);
    transport_free(b); /* freeing an end is end of stream for the peer */
    assert_int_equal(transport_read(a, buf, sizeof(buf), &err), 4);
    assert_memory_equal(buf, "pong", 4);
    assert_int_equal(transport_read(a, buf, sizeof(buf), &err), 0);
    transport_free(a);
}

/* ---- zstd ------------------------------------------------------------------
 */

/* Compress data through transport_zstd_new into a memory transport. */
static char *zstd_compress(const char *data, size_t len, size_t piece,
                           int level, size_t *outlen)
{
    struct error err = ERROR_INIT;
    struct transport *mem = transport_memory_new(NULL, 0, "wire");
    struct transport *z = transport_zstd_new(mem, level, false);
    const void *out;
    char *copy;

    for (size_t off = 0; off < len;) {
        size_t n = len - off < piece ? len - off : piece;

        assert_int_equal(transport_write(z, data + off, n, &err), 0);
        off += n;
    }
    assert_int_equal(transport_close_write(z, &err), 0);
    assert_int_equal(transport_write(z, "x", 1, &err), -1);
    out = transport_memory_output(mem, outlen);
    copy = xmalloc(*outlen + 1);
    memcpy(copy, out, *outlen);
    transport_free(z);
    transport_free(mem);
    return copy;
}

/* Decompress wire through transport_zstd_new; returns read_all's rc. */
static int zstd_decompress(const char *wire, size_t len, size_t step,
                           char **data, size_t *datalen, struct error *err)
{
    struct transport *z =
        transport_zstd_new(transport_memory_new(wire, len, "wire"), 0, true);
    int rc;

    *data = read_all(z, step, datalen, err, &rc);
    if (rc == 0)
        rc = transport_finish(z, err);
    transport_free(z);
    return rc;
}

static void test_zstd_round_trip_sizes(void **state)
{
    static const size_t sizes[] = {
        0, 1, 13, 4096, 65537, (1 << 20) - 1, 3 << 20, 9 << 20};
    static const size_t pieces[] = {1 << 20, 7, 131072};

    (void)state;
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t len = sizes[i];
        char *data = make_data(len, (uint32_t)i + 1);

        for (size_t j = 0; j < sizeof(pieces) / sizeof(pieces[0]); j++) {
            struct error err = ERROR_INIT;
            size_t wlen, back_len;
            char *wire, *back;

            if (pieces[j] == 7 && len > 70000)
                continue; /* tiny writes: only on small inputs */
            wire = zstd_compress(data, len, pieces[j], (int)j, &wlen);
            assert_true(wlen > 0); /* even nothing makes a frame */
            assert_int_equal(zstd_decompress(wire, wlen, 1 + j * 40000, &back,
                                             &back_len, &err),
                             0);
            assert_int_equal(back_len, len);
            if (len)
                assert_memory_equal(back, data, len);
            free(wire);
            free(back);
        }
        free(data);
    }
}

static void test_zstd_compresses(void **state)
{
    char *zeros = xcalloc(1, 8 << 20);
    size_t wlen;
    char *wire = zstd_compress(zeros, 8 << 20, 1 << 20, 1, &wlen);

    (void)state;
    assert_true(wlen < 64 * 1024);
    free(wire);
    free(zeros);
}

static void test_zstd_truncated_is_protocol_error(void **state)
{
    char *data = make_data(300000, 5), *wire, *back;
    size_t wlen, back_len;
    size_t cuts[] = {0, 1, 4, 20, 0, 0};

    (void)state;
    wire = zstd_compress(data, 300000, 65536, 1, &wlen);
    cuts[4] = wlen / 2;
    cuts[5] = wlen - 1; /* only the checksum's last byte missing */
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        struct error err = ERROR_INIT;

        assert_int_equal(
            zstd_decompress(wire, cuts[i], 65536, &back, &back_len, &err), -1);
        assert_int_equal(err.kind, ERROR_PROTOCOL);
        assert_non_null(strstr(err.msg, "wire (zstd)"));
        free(back);
    }
    free(wire);
    free(data);
}

static void test_zstd_corrupt_is_protocol_error(void **state)
{
    char *data = make_data(300000, 9), *wire, *back;
    size_t wlen, back_len;
    struct error err = ERROR_INIT;

    (void)state;
    wire = zstd_compress(data, 300000, 65536, 1, &wlen);
    /* A flipped byte in the middle: block damage or a checksum mismatch. */
    wire[wlen / 2] ^= 0x55;
    assert_int_equal(zstd_decompress(wire, wlen, 65536, &back, &back_len, &err),
                     -1);
    assert_int_equal(err.kind, ERROR_PROTOCOL);
    assert_non_null(strstr(err.msg, "corrupt compressed stream"));
    free(back);
    free(wire);

    /* Not zstd at all. */
    assert_int_equal(
        zstd_decompress("rbd diff v1\n", 12, 100, &back, &back_len, &err), -1);
    assert_int_equal(err.kind, ERROR_PROTOCOL);
    free(back);

    /* A good frame followed by garbage. */
    wire = zstd_compress("abc", 3, 3, 1, &wlen);
    wire = xrealloc(wire, wlen + 8);
    memcpy(wire + wlen, "garbage!", 8);
    assert_int_equal(
        zstd_decompress(wire, wlen + 8, 100, &back, &back_len, &err), -1);
    assert_int_equal(err.kind, ERROR_PROTOCOL);
    free(back);
    free(wire);
    free(data);
}

static void test_zstd_over_a_pair_with_finish(void **state)
{
    struct error err = ERROR_INIT, refused = ERROR_INIT;
    struct transport *a, *b, *za, *zb;
    char *data = make_data(2 << 20, 3), *back;
    size_t back_len;
    int rc;

    (void)state;
    transport_memory_pair("a", "b", &a, &b);
    za = transport_zstd_new(a, 3, true);
    zb = transport_zstd_new(b, 3, true);
    assert_int_equal(transport_write(za, data, 2 << 20, &err), 0);
    assert_int_equal(transport_close_write(za, &err), 0);
    back = read_all(zb, 1 << 20, &back_len, &err, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(back_len, 2 << 20);
    assert_memory_equal(back, data, 2 << 20);
    /* finish delegates to the inner transport. */
    error_set(&refused, ERROR_STATE, 1, "remote failed");
    transport_memory_set_finish_error(a, &refused);
    assert_int_equal(transport_finish(za, &err), -1);
    assert_string_equal(err.msg, "remote failed");
    transport_free(za);
    transport_free(zb);
    free(back);
    free(data);
}

/* A session that carries one transfer after another: after a flush the
 * reader gets every byte written so far, even when its reads fill their
 * buffers exactly and the writer sends nothing more until it has an answer
 * (a read that waited for more input here would never return). */
static void test_zstd_flush_delivers_without_frame_end(void **state)
{
    struct error err = ERROR_INIT;
    struct transport *a, *b, *za, *zb;
    char *data = make_data(300000, 21);
    char *back = xmalloc(300000);
    char end;

    (void)state;
    transport_memory_pair("a", "b", &a, &b);
    za = transport_zstd_new(a, 1, true);
    zb = transport_zstd_new(b, 1, true);
    for (int round = 0; round < 3; round++) {
        size_t got = 0;

        assert_int_equal(transport_write(za, data, 300000, &err), 0);
        assert_int_equal(transport_flush(za, &err), 0);
        while (got < 300000) {
            ssize_t r =
                transport_read(zb, back + got,
                               4096 < 300000 - got ? 4096 : 300000 - got, &err);

            assert_true(r > 0);
            got += (size_t)r;
        }
        assert_memory_equal(back, data, 300000);
    }
    assert_int_equal(transport_close_write(za, &err), 0);
    assert_int_equal(transport_read(zb, &end, 1, &err), 0);
    transport_free(za);
    transport_free(zb);
    free(back);
    free(data);
}

/* ---- rate limit ------------------------------------------------------------
 */

static void test_ratelimit_passes_bytes_unchanged(void **state)
{
    struct error err = ERROR_INIT;
    char *data = make_data(1 << 20, 11), *back;
    struct transport *mem = transport_memory_new(data, 1 << 20, "wire");
    /* Fast enough not to slow the test: 1 GiB/s. */
    struct transport *rl = transport_ratelimit_new(mem, 1u << 30, true);
    const void *out;
    size_t len, back_len;
    int rc;

    (void)state;
    assert_string_equal(transport_name(rl), "wire");
    assert_int_equal(transport_write(rl, data, 1 << 20, &err), 0);
    assert_int_equal(transport_write(rl, "tail", 4, &err), 0);
    out = transport_memory_output(mem, &len);
    assert_int_equal(len, (1 << 20) + 4);
    assert_memory_equal(out, data, 1 << 20);
    back = read_all(rl, 300000, &back_len, &err, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(back_len, 1 << 20);
    assert_memory_equal(back, data, 1 << 20);
    assert_int_equal(transport_close_write(rl, &err), 0);
    assert_int_equal(transport_finish(rl, &err), 0);
    assert_int_equal(rl->bytes_out, (1 << 20) + 4);
    assert_int_equal(rl->bytes_in, 1 << 20);
    transport_free(rl);
    free(back);
    free(data);
}

static void test_ratelimit_zero_means_unlimited_and_errors_pass(void **state)
{
    struct error err = ERROR_INIT;
    struct transport *mem = transport_memory_new("abcdef", 6, "wire");
    struct transport *rl = transport_ratelimit_new(mem, 0, false);
    char buf[8];

    (void)state;
    transport_memory_set_faults(mem, 0, 3, 2);
    assert_int_equal(transport_write(rl, "xy", 2, &err), 0);
    assert_int_equal(transport_write(rl, "z", 1, &err), -1);
    assert_non_null(strstr(err.msg, "injected write failure"));
    assert_int_equal(transport_read(rl, buf, sizeof(buf), &err), -1);
    assert_non_null(strstr(err.msg, "injected read failure"));
    transport_free(rl);
    transport_free(mem);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ssh_target_parses_user_host_port),
        cmocka_unit_test(test_ssh_target_defaults_user_and_port),
        cmocka_unit_test(test_ssh_target_ipv6),
        cmocka_unit_test(test_ssh_target_rejects_bad_input),
        cmocka_unit_test(test_memory_reads_given_bytes_then_eof),
        cmocka_unit_test(test_memory_collects_writes),
        cmocka_unit_test(test_memory_faults_and_short_reads),
        cmocka_unit_test(test_memory_pair_connects_both_ways),
        cmocka_unit_test(test_zstd_round_trip_sizes),
        cmocka_unit_test(test_zstd_compresses),
        cmocka_unit_test(test_zstd_truncated_is_protocol_error),
        cmocka_unit_test(test_zstd_corrupt_is_protocol_error),
        cmocka_unit_test(test_zstd_over_a_pair_with_finish),
        cmocka_unit_test(test_zstd_flush_delivers_without_frame_end),
        cmocka_unit_test(test_ratelimit_passes_bytes_unchanged),
        cmocka_unit_test(test_ratelimit_zero_means_unlimited_and_errors_pass),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
