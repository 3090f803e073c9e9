/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/ssh_probe.c: drive transport/ssh.c from the shell.
 *
 *   ssh_probe [options] [USER@]HOST[:PORT] COMMAND
 *
 * Pipes its input to COMMAND on HOST and the command's stdout to its own,
 * in one thread per session, interleaving writes with reads of whatever the
 * command already answered (so a round trip through `cat` works). With -j N
 * it runs N sessions in parallel, each sending the whole input; --stats
 * prints bytes and throughput. Exit status 0, or 1 with the transport's
 * error message on stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rbdmove/base/log.h"
#include "rbdmove/base/strutil.h"
#include "rbdmove/base/xalloc.h"
#include "transport/ssh.h"

#define CHUNK (1u << 20)

struct config {
    struct transport_ssh_target target;
    struct transport_ssh_options opts;
    const char *command;
    const char *input;  /* NULL: stdin */
    const char *output; /* PREFIX for -j N; NULL: stdout (or nothing) */
    uint64_t limit;     /* bytes of input to send; 0: all */
    int sessions;
    bool stats;
};

struct job {
    const struct config *cfg;
    int id;
    uint64_t sent, received;
    double seconds;
    int ret;
    struct error err;
};

static int write_out(int fd, const char *p, size_t len, struct error *err)
{
    while (fd >= 0 && len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return error_set(err, ERROR_IO, errno, "cannot write output");
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Copy whatever the command already sent us, without waiting. */
static int pump(struct transport *t, int out, char *buf, struct error *err)
{
    for (;;) {
        ssize_t n = transport_ssh_read_nowait(t, buf, CHUNK, err);

        if (n <= 0)
            return (int)n;
        if (write_out(out, buf, (size_t)n, err) < 0)
            return -1;
    }
}

static int send_input(struct transport *t, int in, int out, uint64_t limit,
                      char *ibuf, char *obuf, struct error *err)
{
    uint64_t left = limit ? limit : UINT64_MAX;

    while (left > 0) {
        size_t want = left < CHUNK ? (size_t)left : CHUNK;
        ssize_t n = read(in, ibuf, want);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return error_set(err, ERROR_IO, errno, "cannot read input");
        if (n == 0)
            break;
        if (transport_write(t, ibuf, (size_t)n, err) < 0 ||
            pump(t, out, obuf, err) < 0)
            return -1;
        left -= (uint64_t)n;
    }
    return 0;
}

static int session(struct job *job, int in, int out)
{
    const struct config *cfg = job->cfg;
    struct transport *t = NULL;
    char *ibuf = xmalloc(CHUNK), *obuf = xmalloc(CHUNK);
    double start = time_now();
    ssize_t n;
    int ret = -1;

    if (transport_ssh_exec(&cfg->target, &cfg->opts, cfg->command, &t,
                           &job->err) < 0)
        goto out;
    if (send_input(t, in, out, cfg->limit, ibuf, obuf, &job->err) < 0 ||
        transport_close_write(t, &job->err) < 0)
        goto out;
    for (;;) {
        n = transport_read(t, obuf, CHUNK, &job->err);
        if (n <= 0)
            break;
        if (write_out(out, obuf, (size_t)n, &job->err) < 0)
            goto out;
    }
    if (n < 0 || transport_finish(t, &job->err) < 0)
        goto out;
    ret = 0;
out:
    job->seconds = time_now() - start;
    if (t) {
        job->sent = t->bytes_out;
        job->received = t->bytes_in;
    }
    transport_free(t);
    free(ibuf);
    free(obuf);
    return ret;
}

static void *run_job(void *arg)
{
    struct job *job = arg;
    const struct config *cfg = job->cfg;
    int in = STDIN_FILENO, out = STDOUT_FILENO;

    if (cfg->input) {
        in = open(cfg->input, O_RDONLY | O_CLOEXEC);
        if (in < 0) {
            job->ret = error_set(&job->err, ERROR_IO, errno, "cannot open '%s'",
                                 cfg->input);
            return NULL;
        }
    }
    if (cfg->output) {
        char *path = xasprintf("%s.%d", cfg->output, job->id);

        out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        free(path);
    } else if (cfg->sessions > 1) {
        out = -1; /* discarded */
    }
    job->ret = session(job, in, out);
    if (cfg->input)
        close(in);
    if (cfg->output && out >= 0)
        close(out);
    return NULL;
}

static void usage(FILE *f)
{
    fputs("usage: ssh_probe [-i KEY] [-k KNOWN_HOSTS] [-a] [-P VAR] "
          "[-t MS] [-K S]\n"
          "                 [-j N] [-f INPUT] [-n BYTES] [-o PREFIX] [-s] "
          "[-v]\n"
          "                 [USER@]HOST[:PORT] COMMAND\n"
          "  -i, --identity FILE        private key (default: agent, "
          "~/.ssh/id_*)\n"
          "  -k, --known-hosts FILE     default ~/.ssh/known_hosts\n"
          "  -a, --accept-new           record an unknown host's key\n"
          "  -P, --passphrase-env VAR   variable holding the key's "
          "passphrase\n"
          "  -t, --timeout MS           connect and dead-link timeout\n"
          "  -K, --keepalive S          keepalive interval\n"
          "  -j, --sessions N           N sessions in parallel (threads)\n"
          "  -f, --input FILE           send FILE (every session sends "
          "all of it)\n"
          "  -n, --bytes N              send at most N bytes of input\n"
          "  -o, --output PREFIX        session i's output goes to "
          "PREFIX.i\n"
          "  -s, --stats                print bytes and MiB/s on stderr\n"
          "  -v, --verbose              debug messages\n",
          f);
}

static int parse_args(int argc, char **argv, struct config *cfg,
                      struct error *err)
{
    static const struct option longopts[] = {
        {"identity", required_argument, NULL, 'i'},
        {"known-hosts", required_argument, NULL, 'k'},
        {"accept-new", no_argument, NULL, 'a'},
        {"passphrase-env", required_argument, NULL, 'P'},
        {"timeout", required_argument, NULL, 't'},
        {"keepalive", required_argument, NULL, 'K'},
        {"sessions", required_argument, NULL, 'j'},
        {"input", required_argument, NULL, 'f'},
        {"bytes", required_argument, NULL, 'n'},
        {"output", required_argument, NULL, 'o'},
        {"stats", no_argument, NULL, 's'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    uint64_t v;
    int c;

    while ((c = getopt_long(argc, argv, "+i:k:aP:t:K:j:f:n:o:svh", longopts,
                            NULL)) != -1) {
        switch (c) {
        case 'i':
            cfg->opts.identity = optarg;
            break;
        case 'k':
            cfg->opts.known_hosts = optarg;
            break;
        case 'a':
            cfg->opts.accept_new_host_key = true;
            break;
        case 'P':
            cfg->opts.passphrase_env = optarg;
            break;
        case 't':
            if (parse_uint(optarg, "timeout", 1, 3600000, &v, err) < 0)
                return -1;
            cfg->opts.timeout_ms = (int)v;
            break;
        case 'K':
            if (parse_uint(optarg, "keepalive", 1, 3600, &v, err) < 0)
                return -1;
            cfg->opts.keepalive_s = (int)v;
            break;
        case 'j':
            if (parse_uint(optarg, "sessions", 1, 64, &v, err) < 0)
                return -1;
            cfg->sessions = (int)v;
            break;
        case 'f':
            cfg->input = optarg;
            break;
        case 'n':
            if (parse_size(optarg, "bytes", &cfg->limit, err) < 0)
                return -1;
            break;
        case 'o':
            cfg->output = optarg;
            break;
        case 's':
            cfg->stats = true;
            break;
        case 'v':
            log_set_level(LOG_LEVEL_DEBUG);
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            return error_set(err, ERROR_USAGE, 0, "bad option");
        }
    }
    if (argc - optind != 2)
        return error_set(err, ERROR_USAGE, 0, "need a target and a command");
    if (cfg->sessions > 1 && !cfg->input)
        return error_set(err, ERROR_USAGE, 0, "-j needs -f");
    if (transport_ssh_target_parse(argv[optind], &cfg->target, err) < 0)
        return -1;
    cfg->command = argv[optind + 1];
    return 0;
}

int main(int argc, char **argv)
{
    struct config cfg = {.target = TRANSPORT_SSH_TARGET_INIT, .sessions = 1};
    struct error err = ERROR_INIT;
    struct job *jobs;
    pthread_t *threads;
    uint64_t total = 0;
    double start, secs;
    int failed = 0;

    log_set_prefix("ssh_probe");
    if (parse_args(argc, argv, &cfg, &err) < 0) {
        fprintf(stderr, "ssh_probe: %s\n", err.msg);
        usage(stderr);
        return 2;
    }
    jobs = xcalloc((size_t)cfg.sessions, sizeof(*jobs));
    threads = xcalloc((size_t)cfg.sessions, sizeof(*threads));
    start = time_now();
    for (int i = 0; i < cfg.sessions; i++) {
        jobs[i] = (struct job){.cfg = &cfg, .id = i, .err = ERROR_INIT};
        if (pthread_create(&threads[i], NULL, run_job, &jobs[i]) != 0) {
            fprintf(stderr, "ssh_probe: cannot start a thread\n");
            return 1;
        }
    }
    for (int i = 0; i < cfg.sessions; i++)
        pthread_join(threads[i], NULL);
    secs = time_now() - start;
    for (int i = 0; i < cfg.sessions; i++) {
        struct job *j = &jobs[i];
        uint64_t moved = j->sent > j->received ? j->sent : j->received;

        total += moved;
        if (j->ret < 0) {
            failed++;
            fprintf(stderr, "ssh_probe: session %d: %s [%s %d]\n", i,
                    j->err.msg, error_kind_name(j->err.kind), j->err.cause);
        }
        if (cfg.stats)
            fprintf(stderr,
                    "session %d: sent %" PRIu64 " received %" PRIu64
                    " bytes in %.2f s: %.1f MiB/s\n",
                    i, j->sent, j->received, j->seconds,
                    (double)moved / (1 << 20) /
                        (j->seconds > 0 ? j->seconds : 1));
    }
    if (cfg.stats)
        fprintf(stderr, "total: %" PRIu64 " bytes in %.2f s: %.1f MiB/s\n",
                total, secs, (double)total / (1 << 20) / secs);
    transport_ssh_target_release(&cfg.target);
    free(jobs);
    free(threads);
    return failed ? 1 : 0;
}
