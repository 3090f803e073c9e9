/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/cli/cmd_batch.c: `rbdmove batch PLAN`, many moves and syncs from
 * one plan (batch_plan.h), run as child processes of this one with at most
 * --parallel at once; and resume, abort and status of a batch.
 *
 * Each job is the very command line an operator would type, run by this
 * same executable with --json and a state directory of its own
 * (STATE/ID.batch/job-N): its journal is the move's own, so a job in
 * flight when the batch died resumes as any move does. The batch's
 * journal (STATE/ID.journal, key "batch") keeps each job's state, and the
 * plan is copied beside it: a resume reads that copy, not a file that may
 * have changed since.
 *
 * The moves of one destination server cut over one at a time: each waits
 * for an flock on STATE/ID.batch/cutover-HASH.lock once its rounds
 * converged, HASH of the server's id as Nova resolved it, so that a name
 * and an id of one server share the lock (RBDMOVE_CUTOVER_LOCK_DIR,
 * cmd_move.c). A total --bwlimit is
 * shared out evenly among the jobs that may run at once.
 *
 * The children die with the batch (PR_SET_PDEATHSIG, SIGTERM): a move
 * stops at a resumable point, or finishes or rolls back its cutover, as
 * on any SIGTERM.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rbdmove/base/buf.h"
#include "rbdmove/base/cancel.h"
#include "rbdmove/base/json.h"
#include "rbdmove/base/json_out.h"
#include "rbdmove/base/log.h"
#include "rbdmove/base/strutil.h"
#include "rbdmove/base/xalloc.h"
#include "rbdmove/cli/batch.h"
#include "rbdmove/cli/batch_plan.h"
#include "rbdmove/cli/cli.h"
#include "rbdmove/cli/commands.h"
#include "rbdmove/cli/parse_options.h"
#include "rbdmove/cli/progress.h"
#include "rbdmove/core/journal.h"

#define PLAN_MAX (16u << 20)

/* How long resume and abort wait for a job the killed batch left running
 * to stop: past Nova's detach and attach timeouts (120 s each). */
#define BUSY_WAIT_S 600

/* The jobs' malloc (see lean_malloc). */
#define BATCH_MALLOC_TUNABLES "glibc.malloc.mmap_threshold=1048576"

/* Chunks in flight across all the jobs of a batch (see job_window). */
#define BATCH_CHUNKS_IN_FLIGHT 8u

static const struct cli_command batch_command = {
    "batch",
    "[--parallel N] [--bwlimit RATE] [--fail-fast] [--shard I/N]\n"
    "       [--state-dir DIR] [--check] [--json] PLAN",
    "Run the moves and syncs of PLAN (YAML or JSON), at most N at once,\n"
    "each resumable: 'rbdmove status|resume|abort ID' act on the whole\n"
    "batch. Every job is checked before the first one starts.",
};

/* A job of this run's shard. */
struct run {
    struct batch_job *job;
    char key[32]; /* "job.N" */
    char *dir;    /* its state directory */
    pid_t pid;    /* 0: not running */
    int out;      /* its stdout (JSON events), -1 when closed */
    struct buf partial;
    uint64_t bytes;
    unsigned rounds;
    double downtime; /* < 0: none measured */
};

struct batch {
    struct journal *j;
    const char *shown; /* the plan as the operator named it */
    char *dir;         /* the state directory */
    char *jobs_dir;    /* dir/ID.batch */
    struct batch_plan plan;
    unsigned parallel;
    bool fail_fast;
    unsigned shard_i, shard_n; /* 1-based; 0/0: the whole plan */
    uint64_t bwlimit;
    char exe[PATH_MAX];
    struct run *runs;
    size_t n;
};

/* ---- the journal --------------------------------------------------------- */

static const char *job_get(const struct batch *b, const struct run *r,
                           const char *what)
{
    char key[64];

    snprintf(key, sizeof(key), "%s.%s", r->key, what);
    return journal_get(b->j, key);
}

static void job_set(struct batch *b, const struct run *r, const char *what,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void job_set(struct batch *b, const struct run *r, const char *what,
                    const char *fmt, ...)
{
    char key[64];
    struct buf v = BUF_INIT;
    va_list ap;

    snprintf(key, sizeof(key), "%s.%s", r->key, what);
    va_start(ap, fmt);
    buf_vaddf(&v, fmt, ap);
    va_end(ap);
    journal_set(b->j, key, buf_str(&v));
    buf_release(&v);
}

static void save(struct batch *b)
{
    struct error err = ERROR_INIT;

    if (journal_save(b->j, &err) < 0)
        cli_report_error(&err);
}

static bool state_is(const struct batch *b, const struct run *r,
                     const char *state)
{
    const char *s = job_get(b, r, "state");

    return s && !strcmp(s, state);
}

/* The top journal in a job's directory: the move, or the group of a
 * move-server; NULL when there is none (a sync, or a move whose
 * pre-flight failed and left nothing). Caller frees. */
static char *job_move_id(const char *dir)
{
    struct error err = ERROR_INIT;
    char **ids = NULL;
    size_t n = 0;
    char *top = NULL;

    if (journal_list(dir, &ids, &n, &err) < 0)
        return NULL;
    for (size_t i = 0; i < n && !top; i++) {
        struct journal *j = NULL;

        if (journal_read(dir, ids[i], &j, &err) < 0)
            continue;
        if (!journal_get(j, "group"))
            top = xstrdup(ids[i]);
        journal_free(j);
    }
    journal_ids_free(ids, n);
    return top;
}

/* The phase of move id in dir, "-" when it has none; of a group (move
 * --server): "done" or "aborted" when every member is, else the phase of
 * the first member that is not done. Caller frees. */
static char *job_phase(const char *dir, const char *id)
{
    struct error err = ERROR_INIT;
    struct journal *j = NULL;
    const char *members;
    char *phase = NULL;

    if (!id || journal_read(dir, id, &j, &err) < 0)
        return xstrdup("-");
    members = journal_get(j, "group.members");
    if (members) {
        char *list = xstrdup(members), *save = NULL;
        bool all_done = true, all_aborted = true;

        for (char *m = strtok_r(list, ",", &save); m;
             m = strtok_r(NULL, ",", &save)) {
            char *p = job_phase(dir, m);

            all_done &= !strcmp(p, "done");
            all_aborted &= !strcmp(p, "aborted");
            if (!phase && strcmp(p, "done"))
                phase = p;
            else
                free(p);
        }
        free(list);
        if (all_done || all_aborted) {
            free(phase);
            phase = xstrdup(all_done ? "done" : "aborted");
        }
    }
    if (!phase)
        phase =
            xstrdup(journal_get(j, "phase") ? journal_get(j, "phase") : "-");
    journal_free(j);
    return phase;
}

/* ---- the runs ------------------------------------------------------------ */

static bool in_shard(const struct batch *b, const struct batch_job *job)
{
    return !b->shard_n || (job->index - 1) % b->shard_n == b->shard_i - 1;
}

static void runs_setup(struct batch *b)
{
    b->runs = xcalloc(b->plan.n, sizeof(*b->runs));
    for (size_t i = 0; i < b->plan.n; i++) {
        struct batch_job *job = &b->plan.jobs[i];
        struct run *r;

        if (!in_shard(b, job))
            continue;
        r = &b->runs[b->n++];
        r->job = job;
        snprintf(r->key, sizeof(r->key), "job.%u", job->index);
        r->dir = xasprintf("%s/job-%u", b->jobs_dir, job->index);
        r->out = -1;
        r->downtime = -1;
    }
}

static void runs_release(struct batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free(b->runs[i].dir);
        buf_release(&b->runs[i].partial);
        if (b->runs[i].out >= 0)
            close(b->runs[i].out);
    }
    free(b->runs);
    b->runs = NULL;
    b->n = 0;
}

/*
 * The jobs of a batch share one host's memory. glibc raises its mmap
 * threshold to the largest block freed so far, so librados' 4 MiB request
 * buffers end up kept in its per-thread arenas once freed: a copy at
 * window 8 peaked at 142 MiB, at 106 MiB with a fixed threshold, and a
 * verify at window 2 at 142 against 64 MiB. A fixed threshold costs system
 * time instead (about 0.7 ms per MiB moved, pages mapped afresh): worth it
 * where jobs run side by side, not imposed on a single move. Added to
 * whatever GLIBC_TUNABLES the operator set, which wins where both set it.
 */
static void lean_malloc(void)
{
    const char *t = getenv("GLIBC_TUNABLES");
    char *v = t && *t ? xasprintf("%s:%s", BATCH_MALLOC_TUNABLES, t)
                      : xstrdup(BATCH_MALLOC_TUNABLES);

    setenv("GLIBC_TUNABLES", v, 1);
    free(v);
}

static void child(const struct batch *b, char **argv, int out, int log,
                  pid_t parent)
{
    int null = open("/dev/null", O_RDONLY);

    /* Die with the batch, whatever kills it: SIGTERM stops a move where
     * it can be resumed. */
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
        _exit(EXIT_RESUMABLE);
    if (null < 0 || dup2(null, 0) < 0 || dup2(out, 1) < 0 || dup2(log, 2) < 0)
        _exit(127);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    setenv("RBDMOVE_CUTOVER_LOCK_DIR", b->jobs_dir, 1);
    lean_malloc();
    execv(b->exe, argv);
    dprintf(2, "rbdmove batch: cannot run %s: %s\n", b->exe, strerror(errno));
    _exit(127);
}

static bool has_option(const struct batch_job *job, const char *prefix)
{
    for (size_t i = 0; i < job->target_at; i++) {
        if (!strncmp(job->argv[i], prefix, strlen(prefix)))
            return true;
    }
    return false;
}

/*
 * Each job's --window where the plan sets none: the batch keeps as many
 * chunks in flight as one single move (8), shared out, so that memory stays
 * flat as --parallel grows (each chunk in flight costs about three times
 * --chunk-size: read and write buffers on both sides and librados' copy).
 * Jobs running side by side hide each other's latency, which is what a
 * single move's window is for.
 */
static unsigned job_window(const struct batch *b)
{
    unsigned w = BATCH_CHUNKS_IN_FLIGHT / b->parallel;

    return w < 1 ? 1 : w > 8 ? 8 : w;
}

/* Start r: its own command line, or resume (or abort) move id. */
static int start(struct batch *b, struct run *r, const char *id, bool abort_it,
                 struct error *err)
{
    struct batch_job *job = r->job;
    char **argv = xcalloc(job->argc + 16, sizeof(*argv));
    char *share = NULL, *window = NULL, *path;
    size_t n = 0;
    int p[2], log, ret = -1;
    pid_t parent = getpid();

    if (mkdir(r->dir, 0700) < 0 && errno != EEXIST)
        return error_set(err, ERROR_IO, errno, "%s: %s", r->dir,
                         strerror(errno));
    path = xasprintf("%s/log", r->dir);
    log = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW,
               0600);
    free(path);
    if (log < 0)
        return error_set(err, ERROR_IO, errno, "%s/log: %s", r->dir,
                         strerror(errno));
    argv[n++] = b->exe;
    if (id) {
        argv[n++] = abort_it ? "abort" : "resume";
    } else {
        /* Its options, then batch's, then its target (batch_plan.h). */
        for (size_t i = 0; i < job->target_at; i++)
            argv[n++] = job->argv[i];
        if (!has_option(job, "--window=")) {
            window = xasprintf("--window=%u", job_window(b));
            argv[n++] = window;
        }
        if (b->bwlimit) {
            uint64_t each = b->bwlimit / b->parallel;

            if (job->bwlimit && job->bwlimit < each)
                each = job->bwlimit;
            share = xasprintf("--bwlimit=%" PRIu64, each ? each : 1);
            argv[n++] = share;
        }
    }
    argv[n++] = "--state-dir";
    argv[n++] = r->dir;
    argv[n++] = "--json";
    argv[n++] = "--progress=never";
    if (id) {
        argv[n++] = "--";
        argv[n++] = (char *)id;
    } else {
        for (size_t i = job->target_at; i < job->argc; i++)
            argv[n++] = job->argv[i];
    }
    argv[n] = NULL;
    if (pipe2(p, O_CLOEXEC) < 0) {
        error_set(err, ERROR_IO, errno, "pipe: %s", strerror(errno));
        goto out;
    }
    fflush(NULL);
    r->pid = fork();
    if (r->pid < 0) {
        error_set(err, ERROR_IO, errno, "fork: %s", strerror(errno));
        r->pid = 0;
        close(p[0]);
        close(p[1]);
        goto out;
    }
    if (r->pid == 0)
        child(b, argv, p[1], log, parent);
    close(p[1]);
    r->out = p[0];
    r->bytes = 0;
    r->rounds = 0;
    r->downtime = -1;
    buf_reset(&r->partial);
    job_set(b, r, "state", "running");
    save(b);
    ret = 0;
out:
    close(log);
    free(share);
    free(window);
    free(argv);
    return ret;
}

/* One JSON event of r's command: counted, and passed on tagged. */
static void on_line(struct batch *b, struct run *r, const char *text,
                    size_t len)
{
    struct error err = ERROR_INIT;
    json_t *ev = NULL, *v;
    uint64_t u;

    if (jsonx_parse(text, len, "a job's event", &ev, &err) < 0 ||
        !json_is_object(ev)) {
        json_decref(ev);
        return;
    }
    if (jsonx_get_u64(ev, "data_bytes", &u))
        r->bytes += u;
    if (jsonx_get_string(ev, "event") &&
        !strcmp(jsonx_get_string(ev, "event"), "done")) {
        if (jsonx_get_u64(ev, "rounds", &u))
            r->rounds = (unsigned)u;
        v = json_object_get(ev, "volumes");
        for (size_t i = 0; json_is_array(v) && i < json_array_size(v); i++) {
            if (jsonx_get_u64(json_array_get(v, i), "rounds", &u) &&
                u > r->rounds)
                r->rounds = (unsigned)u;
        }
        v = json_object_get(ev, "downtime_s");
        if (json_is_number(v))
            r->downtime = json_number_value(v);
    }
    if (cli_json) {
        /* Passed on as it came, the tags added before its closing brace:
         * it parsed as an object, so its last character is that brace. */
        while (len && (text[len - 1] == ' ' || text[len - 1] == '\r'))
            len--;
        if (len && text[len - 1] == '}') {
            printf("%.*s%s\"batch\":\"%s\",\"job\":%u}\n", (int)(len - 1), text,
                   json_object_size(ev) ? "," : "", journal_id(b->j),
                   r->job->index);
            fflush(stdout);
        }
    }
    json_decref(ev);
}

/* Read what r's command wrote; false at its end. */
static bool drain(struct batch *b, struct run *r)
{
    char chunk[4096];
    ssize_t got = read(r->out, chunk, sizeof(chunk));

    if (got < 0 && (errno == EINTR || errno == EAGAIN))
        return true;
    if (got <= 0)
        return false;
    buf_add(&r->partial, chunk, (size_t)got);
    for (;;) {
        const char *s = buf_str(&r->partial);
        const char *nl = memchr(s, '\n', r->partial.len);
        size_t used;

        if (!nl)
            break;
        used = (size_t)(nl - s) + 1;
        on_line(b, r, s, used - 1);
        memmove(r->partial.data, r->partial.data + used, r->partial.len - used);
        r->partial.len -= used;
        r->partial.data[r->partial.len] = '\0';
    }
    /* A line longer than any event: not one of ours. */
    if (r->partial.len > (1u << 20))
        buf_reset(&r->partial);
    return true;
}

/* The last line r's command wrote on stderr, for a failed job. */
static char *last_log_line(const struct run *r)
{
    char *path = xasprintf("%s/log", r->dir);
    FILE *f = fopen(path, "r");
    char line[1024], last[1024] = "";

    free(path);
    if (!f)
        return xstrdup("");
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0])
            memcpy(last, line, sizeof(last));
    }
    fclose(f);
    return xstrdup(last);
}

static const char *result_of(int status)
{
    if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_OK)
        return "done";
    if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_RESUMABLE)
        return "stopped";
    return "failed";
}

static void finish(struct batch *b, struct run *r, int status, bool aborting)
{
    const char *result =
        aborting && WIFEXITED(status) && WEXITSTATUS(status) == EXIT_OK
            ? "aborted"
            : result_of(status);
    char *id = job_move_id(r->dir);
    char bytes[32];
    struct buf line = BUF_INIT;

    r->pid = 0;
    close(r->out);
    r->out = -1;
    job_set(b, r, "state", "%s", result);
    if (id)
        job_set(b, r, "move", "%s", id);
    if (WIFEXITED(status))
        job_set(b, r, "exit", "%d", WEXITSTATUS(status));
    else
        job_set(b, r, "exit", "signal %d", WTERMSIG(status));
    if (!aborting) {
        job_set(b, r, "rounds", "%u", r->rounds);
        const char *before = job_get(b, r, "bytes_before");

        job_set(b, r, "bytes", "%" PRIu64,
                r->bytes + (uint64_t)strtoull(before ? before : "0", NULL, 10));
        if (r->downtime >= 0)
            job_set(b, r, "downtime", "%.2f", r->downtime);
    }
    save(b);
    buf_addf(&line, "job %u %s %s: %s", r->job->index, r->job->kind,
             r->job->target, result);
    if (!strcmp(result, "done"))
        buf_addf(&line, " (%s moved)",
                 format_bytes(strtoull(job_get(b, r, "bytes"), NULL, 10), bytes,
                              sizeof(bytes)));
    if (r->downtime >= 0 && !strcmp(result, "done"))
        buf_addf(&line, ", downtime %.2f s", r->downtime);
    if (!strcmp(result, "failed") || !strcmp(result, "stopped")) {
        char *last = last_log_line(r);
        struct buf e = BUF_INIT;

        buf_add_escaped(&e, last, strlen(last));
        buf_addf(&line, ": %s (log %s/log)", buf_str(&e), r->dir);
        buf_release(&e);
        free(last);
    }
    fprintf(stderr, "rbdmove batch: %s\n", buf_str(&line));
    buf_release(&line);
    free(id);
}

/* Stop every running job (SIGTERM: each stops where it can resume). */
static void stop_all(struct batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        if (b->runs[i].pid > 0)
            kill(b->runs[i].pid, SIGTERM);
    }
}

/* Wait until the journal of move id in dir is free: a job of a batch that
 * was killed gets SIGTERM and may still be stopping, or finishing its
 * cutover (bounded by Nova's detach and attach timeouts). */
static int wait_free(const char *dir, const char *id, struct error *err)
{
    double until = time_now() + BUSY_WAIT_S;
    bool said = false;

    for (;;) {
        struct journal *j = NULL;

        if (journal_open(dir, id, &j, err) == 0) {
            journal_free(j);
            return 0;
        }
        if (err->kind != ERROR_BUSY &&
            !(err->kind == ERROR_STATE && err->cause == EWOULDBLOCK))
            return -1;
        if (time_now() > until)
            return error_set(err, ERROR_BUSY, EWOULDBLOCK,
                             "move %s is still driven by another process "
                             "after %d s",
                             id, BUSY_WAIT_S);
        if (!said)
            fprintf(stderr,
                    "rbdmove batch: move %s is still stopping: waiting for "
                    "it\n",
                    id);
        said = true;
        if (!cancel_sleep(0.2))
            return error_set(err, ERROR_INTERRUPTED, 0,
                             "stopped while move %s was still busy", id);
        *err = (struct error)ERROR_INIT;
    }
}

/* What starting r means now: NULL id a new run; else resume id. Sets
 * *skip when the job is over already (its move done or aborted). */
static int next_step(struct batch *b, struct run *r, char **id, bool *skip,
                     struct error *err)
{
    char *phase;

    *skip = false;
    *id = strcmp(r->job->verb, "sync") ? job_move_id(r->dir) : NULL;
    if (!*id)
        return 0;
    phase = job_phase(r->dir, *id);
    if (!strcmp(phase, "done") || !strcmp(phase, "aborted")) {
        job_set(b, r, "state", "%s", phase);
        job_set(b, r, "move", "%s", *id);
        *skip = true;
    }
    free(phase);
    if (*skip)
        return 0;
    if (wait_free(r->dir, *id, err) < 0)
        return -1;
    /* Bytes of earlier runs stay counted. */
    if (job_get(b, r, "bytes"))
        job_set(b, r, "bytes_before", "%s", job_get(b, r, "bytes"));
    return 0;
}

static bool runnable(const struct batch *b, const struct run *r)
{
    return !state_is(b, r, "done") && !state_is(b, r, "aborted");
}

/* Run every runnable job of the shard, --parallel at once. */
static int run_all(struct batch *b)
{
    size_t next = 0, running = 0;
    bool stopping = false, failed = false, interrupted = false;
    struct pollfd *fds = xcalloc(b->n, sizeof(*fds));
    struct run **polled = xcalloc(b->n, sizeof(*polled));

    progress_setup(PROGRESS_NEVER, cli_json);
    cli_install_signals();
    for (;;) {
        size_t nfds = 0;

        if (!stopping && cancel_requested()) {
            stopping = interrupted = true;
            stop_all(b);
        }
        while (!stopping && running < b->parallel && next < b->n) {
            struct run *r = &b->runs[next++];
            struct error err = ERROR_INIT;
            char *id = NULL;
            bool skip;

            if (!runnable(b, r))
                continue;
            if (next_step(b, r, &id, &skip, &err) < 0 ||
                (!skip && start(b, r, id, false, &err) < 0)) {
                if (err.kind == ERROR_INTERRUPTED) {
                    stopping = interrupted = true;
                    stop_all(b);
                } else {
                    fprintf(stderr, "rbdmove batch: job %u: %s\n",
                            r->job->index, err.msg);
                    job_set(b, r, "state", "failed");
                    failed = true;
                }
                save(b);
            } else if (!skip) {
                running++;
            } else {
                save(b);
            }
            free(id);
        }
        if (!running)
            break;
        for (size_t i = 0; i < b->n; i++) {
            if (b->runs[i].pid > 0 && b->runs[i].out >= 0) {
                fds[nfds] = (struct pollfd){b->runs[i].out, POLLIN, 0};
                polled[nfds++] = &b->runs[i];
            }
        }
        if (poll(fds, nfds, 200) < 0 && errno != EINTR)
            break;
        for (size_t i = 0; i < nfds; i++) {
            struct run *r = polled[i];
            int status = 0;

            if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            if (drain(b, r))
                continue;
            /* Its end of the pipe is closed: it is exiting. */
            while (waitpid(r->pid, &status, 0) < 0 && errno == EINTR)
                ;
            finish(b, r, status, false);
            running--;
            if (strcmp(job_get(b, r, "state"), "done")) {
                failed = true;
                if (b->fail_fast && !stopping) {
                    fprintf(stderr, "rbdmove batch: --fail-fast: stopping "
                                    "the other jobs\n");
                    stopping = true;
                    stop_all(b);
                }
            }
        }
    }
    free(fds);
    free(polled);
    if (interrupted)
        return EXIT_RESUMABLE;
    return failed || next < b->n ? EXIT_FAIL : EXIT_OK;
}

/* ---- the report ---------------------------------------------------------- */

static void summary(struct batch *b, int ret)
{
    struct json_out j = JSON_OUT_INIT;

    journal_set(b->j, "batch.state",
                ret == EXIT_OK          ? "done"
                : ret == EXIT_RESUMABLE ? "stopped"
                                        : "failed");
    save(b);
    json_out_object_begin(&j, NULL);
    json_out_str(&j, "event", "batch-done");
    json_out_str(&j, "batch", journal_id(b->j));
    json_out_str(&j, "result", journal_get(b->j, "batch.state"));
    json_out_array_begin(&j, "jobs");
    if (!cli_json)
        printf("%-4s %-12s %-24s %-8s %6s %10s %9s  %s\n", "JOB", "KIND",
               "TARGET", "RESULT", "ROUNDS", "BYTES", "DOWNTIME", "MOVE");
    for (size_t i = 0; i < b->n; i++) {
        struct run *r = &b->runs[i];
        const char *state = job_get(b, r, "state");
        const char *move = job_get(b, r, "move");
        const char *rounds = job_get(b, r, "rounds");
        const char *bytes = job_get(b, r, "bytes");
        const char *down = job_get(b, r, "downtime");
        uint64_t nbytes = bytes ? strtoull(bytes, NULL, 10) : 0;
        char h[32];
        struct buf t = BUF_INIT;

        json_out_object_begin(&j, NULL);
        json_out_u64(&j, "job", r->job->index);
        json_out_str(&j, "kind", r->job->kind);
        json_out_str(&j, "target", r->job->target);
        json_out_str(&j, "result", state ? state : "pending");
        json_out_str(&j, "move", move);
        json_out_u64(&j, "rounds", rounds ? strtoull(rounds, NULL, 10) : 0);
        json_out_u64(&j, "bytes", nbytes);
        if (down)
            json_out_double(&j, "downtime_s", strtod(down, NULL));
        else
            json_out_null(&j, "downtime_s");
        json_out_object_end(&j);
        if (cli_json)
            continue;
        buf_add_escaped(&t, r->job->target, strlen(r->job->target));
        printf("%-4u %-12s %-24s %-8s %6s %10s %9s  %s\n", r->job->index,
               r->job->kind, buf_str(&t), state ? state : "pending",
               rounds ? rounds : "-",
               bytes ? format_bytes(nbytes, h, sizeof(h)) : "-",
               down ? down : "-", move ? move : "-");
        buf_release(&t);
    }
    json_out_array_end(&j);
    json_out_object_end(&j);
    events_print(&j);
    json_out_release(&j);
    fflush(stdout);
}

/* ---- setting up ------------------------------------------------------------
 */

static int self_exe(struct batch *b, struct error *err)
{
    ssize_t n = readlink("/proc/self/exe", b->exe, sizeof(b->exe) - 1);

    if (n < 0)
        return error_set(err, ERROR_IO, errno, "/proc/self/exe: %s",
                         strerror(errno));
    b->exe[n] = '\0';
    return 0;
}

/* Copy the plan beside the journal: resume reads this copy. */
static int keep_plan(const struct batch *b, const char *path, struct error *err)
{
    FILE *f = fopen(path, "r");
    struct buf text = BUF_INIT;
    char chunk[8192], *dst, *tmp;
    size_t got;
    int ret;

    if (!f)
        return error_set(err, ERROR_USAGE, errno, "%s: %s", path,
                         strerror(errno));
    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0 &&
           text.len <= PLAN_MAX)
        buf_add(&text, chunk, got);
    fclose(f);
    dst = xasprintf("%s/plan", b->jobs_dir);
    tmp = xasprintf("%s/plan.tmp", b->jobs_dir);
    ret =
        file_replace(dst, tmp, text.data ? text.data : "", text.len, 0600, err);
    free(dst);
    free(tmp);
    buf_release(&text);
    return ret;
}

static int parse_shard(const char *s, unsigned *i, unsigned *n)
{
    char *end;
    unsigned long a, c;

    errno = 0;
    a = strtoul(s, &end, 10);
    if (end == s || *end != '/' || errno)
        return -1;
    s = end + 1;
    c = strtoul(s, &end, 10);
    if (end == s || *end || errno || c < 1 || c > 1000 || a < 1 || a > c)
        return -1;
    *i = (unsigned)a;
    *n = (unsigned)c;
    return 0;
}

static void print_check(const struct batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        const struct batch_job *job = b->runs[i].job;
        struct buf line = BUF_INIT;

        buf_addf(&line, "job %u:", job->index);
        buf_adds(&line, " rbdmove");
        for (size_t k = 0; k < job->argc; k++) {
            const char *a = job->argv[k];

            buf_adds(&line, " ");
            /* Quoted only where a shell needs it: a line to read. */
            if (a[0] &&
                strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                          "0123456789_./=:@%+,-") == strlen(a))
                buf_adds(&line, a);
            else
                buf_add_shell_quoted(&line, a);
        }
        printf("%s\n", buf_str(&line));
        buf_release(&line);
    }
}

static void batch_release(struct batch *b)
{
    runs_release(b);
    batch_plan_release(&b->plan);
    journal_free(b->j);
    free(b->jobs_dir);
}

static void record_options(struct batch *b, const char *plan)
{
    char *abs = realpath(plan, NULL);

    journal_set(b->j, "batch", "1");
    journal_set(b->j, "batch.plan", abs ? abs : plan);
    free(abs);
    journal_setf(b->j, "batch.parallel", "%u", b->parallel);
    if (b->shard_n)
        journal_setf(b->j, "batch.shard", "%u/%u", b->shard_i, b->shard_n);
    if (b->fail_fast)
        journal_set(b->j, "batch.fail_fast", "1");
    if (b->bwlimit)
        journal_setf(b->j, "batch.bwlimit", "%" PRIu64, b->bwlimit);
    journal_set(b->j, "batch.state", "running");
    for (size_t i = 0; i < b->n; i++) {
        job_set(b, &b->runs[i], "kind", "%s", b->runs[i].job->kind);
        job_set(b, &b->runs[i], "target", "%s", b->runs[i].job->target);
        job_set(b, &b->runs[i], "state", "pending");
    }
}

int cmd_batch(int argc, char **argv)
{
    struct batch b;
    struct error err = ERROR_INIT;
    const char *shard = NULL, *state_dir = NULL;
    bool check = false;
    enum parse_options_status st;
    int n, ret;
    const struct parse_option opts[] = {
        OPT_UINT(0, "parallel", &b.parallel, "N", 1, 64,
                 "jobs at once (default 2)"),
        OPT_SIZE(0, "bwlimit", &b.bwlimit, "RATE",
                 "limit the total rate of all jobs, bytes per second"),
        OPT_BOOL(0, "fail-fast", &b.fail_fast,
                 "stop every job once one fails (they stay resumable)"),
        OPT_STRING(0, "shard", &shard, "I/N",
                   "run only the I-th of N disjoint parts of the plan (jobs "
                   "I, I+N, I+2N, ...)"),
        OPT_STRING(0, "state-dir", &state_dir, "DIR",
                   "where journals live (default ~/.local/state/rbdmove)"),
        OPT_BOOL(0, "check", &check,
                 "check the plan and print each job's command line; run "
                 "nothing"),
        OPT_BOOL(0, "json", &cli_json,
                 "print every job's JSON events, tagged with the batch and "
                 "the job, and a summary"),
        OPT_END(),
    };

    memset(&b, 0, sizeof(b));
    b.parallel = 2;
    st = parse_options(&batch_command, opts, argc, argv, &n);
    if (st != PARSE_OPT_DONE)
        return parse_options_exit(st);
    if (n != 1)
        return cli_usage_error(&batch_command, "expected one plan");
    if (shard && parse_shard(shard, &b.shard_i, &b.shard_n) < 0)
        return cli_usage_error(&batch_command,
                               "--shard '%s': expected I/N with 1 <= I <= N",
                               shard);
    b.shown = argv[0];
    if (batch_plan_load(argv[0], argv[0], &b.plan, &err) < 0) {
        /* A plan that cannot be read is a mistake on the command line. */
        if (err.kind == ERROR_IO)
            err.kind = ERROR_USAGE;
        ret = cli_report_error(&err);
        goto out;
    }
    b.dir = state_dir ? xstrdup(state_dir) : journal_default_dir();
    b.jobs_dir = xstrdup("");
    runs_setup(&b);
    if (check) {
        print_check(&b);
        ret = EXIT_OK;
        goto out;
    }
    if (!b.n) {
        ret = cli_usage_error(&batch_command,
                              "shard %s has no job: the plan has %zu", shard,
                              b.plan.n);
        goto out;
    }
    if (self_exe(&b, &err) < 0 || journal_create(b.dir, &b.j, &err) < 0) {
        ret = cli_report_error(&err);
        goto out;
    }
    free(b.jobs_dir);
    b.jobs_dir = xasprintf("%s/%s.batch", b.dir, journal_id(b.j));
    runs_release(&b);
    runs_setup(&b);
    if (mkdir(b.jobs_dir, 0700) < 0 || keep_plan(&b, argv[0], &err) < 0) {
        if (!err.kind)
            error_set(&err, ERROR_IO, errno, "%s: %s", b.jobs_dir,
                      strerror(errno));
        ret = cli_report_error(&err);
        goto out;
    }
    record_options(&b, argv[0]);
    save(&b);
    fprintf(stderr,
            "rbdmove: batch %s (journal in %s): %zu job%s, %u at once\n",
            journal_id(b.j), b.dir, b.n, b.n == 1 ? "" : "s", b.parallel);
    ret = run_all(&b);
    summary(&b, ret);
out:
    batch_release(&b);
    free(b.dir);
    return ret;
}

/* ---- resume, abort, status -------------------------------------------------
 */

/* Load the batch of journal j (locked): its options and its kept plan. */
static int load(struct batch *b, struct journal *j, const char *dir,
                struct error *err)
{
    const char *v;
    char *plan;
    int ret;

    memset(b, 0, sizeof(*b));
    b->j = j;
    b->dir = (char *)dir;
    b->jobs_dir = xasprintf("%s/%s.batch", dir, journal_id(j));
    b->shown =
        journal_get(j, "batch.plan") ? journal_get(j, "batch.plan") : "plan";
    v = journal_get(j, "batch.parallel");
    b->parallel = v ? (unsigned)strtoul(v, NULL, 10) : 2;
    if (b->parallel < 1 || b->parallel > 64)
        b->parallel = 2;
    b->fail_fast = journal_get(j, "batch.fail_fast") != NULL;
    v = journal_get(j, "batch.bwlimit");
    b->bwlimit = v ? strtoull(v, NULL, 10) : 0;
    v = journal_get(j, "batch.shard");
    if (v && parse_shard(v, &b->shard_i, &b->shard_n) < 0)
        return error_set(err, ERROR_STATE, 0,
                         "batch %s: its shard '%s' does not parse",
                         journal_id(j), v);
    plan = xasprintf("%s/plan", b->jobs_dir);
    ret = batch_plan_load(plan, b->shown, &b->plan, err);
    free(plan);
    if (ret < 0)
        return -1;
    runs_setup(b);
    return self_exe(b, err);
}

static int abort_all(struct batch *b)
{
    int ret = EXIT_OK;

    cli_install_signals();
    for (size_t i = 0; i < b->n; i++) {
        struct run *r = &b->runs[i];
        struct error err = ERROR_INIT;
        char *id = NULL, *phase;
        int status = 0;

        if (!runnable(b, r))
            continue;
        if (strcmp(r->job->verb, "sync"))
            id = job_move_id(r->dir);
        phase = job_phase(r->dir, id);
        if (!id || !strcmp(phase, "aborted")) {
            /* Never started, or a sync: nothing of a move to undo. */
            job_set(b, r, "state", "aborted");
            save(b);
            fprintf(stderr, "rbdmove batch: job %u %s %s: aborted\n",
                    r->job->index, r->job->kind, r->job->target);
        } else if (!strcmp(phase, "done")) {
            job_set(b, r, "state", "done");
            save(b);
        } else if (wait_free(r->dir, id, &err) < 0 ||
                   start(b, r, id, true, &err) < 0) {
            fprintf(stderr, "rbdmove batch: job %u: %s\n", r->job->index,
                    err.msg);
            ret = EXIT_FAIL;
        } else {
            while (drain(b, r))
                ;
            while (waitpid(r->pid, &status, 0) < 0 && errno == EINTR)
                ;
            finish(b, r, status, true);
            if (!state_is(b, r, "aborted"))
                ret = EXIT_FAIL;
        }
        free(phase);
        free(id);
    }
    journal_set(b->j, "batch.state", ret == EXIT_OK ? "aborted" : "failed");
    save(b);
    return ret;
}

int batch_by_id(struct journal *j, const char *dir, bool do_abort)
{
    struct batch b;
    struct error err = ERROR_INIT;
    int ret;

    if (load(&b, j, dir, &err) < 0) {
        ret = cli_report_error(&err);
    } else if (!do_abort && journal_get(j, "batch.state") &&
               !strcmp(journal_get(j, "batch.state"), "aborted")) {
        error_set(&err, ERROR_STATE, 0,
                  "batch %s was aborted: there is nothing to resume",
                  journal_id(j));
        ret = cli_report_error(&err);
    } else if (do_abort) {
        ret = abort_all(&b);
    } else {
        journal_set(j, "batch.state", "running");
        save(&b);
        fprintf(stderr, "rbdmove: batch %s resumed: %zu job%s, %u at once\n",
                journal_id(j), b.n, b.n == 1 ? "" : "s", b.parallel);
        ret = run_all(&b);
        summary(&b, ret);
    }
    b.j = NULL; /* the caller's */
    runs_release(&b);
    batch_plan_release(&b.plan);
    free(b.jobs_dir);
    return ret;
}

/* Whether a process drives the batch of journal j now (holds its lock). */
static bool batch_live(const struct journal *j, const char *dir)
{
    struct journal *probe = NULL;
    struct error err = ERROR_INIT;

    if (journal_open(dir, journal_id(j), &probe, &err) == 0) {
        journal_free(probe);
        return false;
    }
    return err.kind == ERROR_BUSY ||
           (err.kind == ERROR_STATE && err.cause == EWOULDBLOCK);
}

void batch_show(struct journal *j, const char *dir)
{
    struct json_out o = JSON_OUT_INIT;
    char *jobs_dir = xasprintf("%s/%s.batch", dir, journal_id(j));
    const char *state = journal_get(j, "batch.state");
    bool live = batch_live(j, dir);

    /* Recorded as running by a batch that is gone (killed): say so. */
    if (!live && state && !strcmp(state, "running"))
        state = "stopped";

    json_out_object_begin(&o, NULL);
    json_out_str(&o, "id", journal_id(j));
    json_out_str(&o, "kind", "batch");
    json_out_str(&o, "plan", journal_get(j, "batch.plan"));
    json_out_str(&o, "state", state);
    json_out_array_begin(&o, "jobs");
    if (!cli_json) {
        printf("batch %s: %s (plan %s)\n", journal_id(j), state ? state : "-",
               journal_get(j, "batch.plan") ? journal_get(j, "batch.plan")
                                            : "-");
        printf("  %-4s %-12s %-24s %-8s %-14s %s\n", "JOB", "KIND", "TARGET",
               "STATE", "PHASE", "MOVE");
    }
    /* The jobs of the batch's shard: each has a "job.N.kind" key. */
    for (size_t i = 0; i < journal_count(j); i++) {
        char key[64], *dir_k, *id, *phase;
        const char *kind = journal_value(j, i), *target, *jstate;
        struct buf t = BUF_INIT;
        unsigned k;
        int end = 0;

        if (sscanf(journal_key(j, i), "job.%u.kind%n", &k, &end) != 1 ||
            journal_key(j, i)[end])
            continue;
        snprintf(key, sizeof(key), "job.%u.target", k);
        target = journal_get(j, key) ? journal_get(j, key) : "-";
        snprintf(key, sizeof(key), "job.%u.state", k);
        jstate = journal_get(j, key) ? journal_get(j, key) : "-";
        if (!live && !strcmp(jstate, "running"))
            jstate = "stopped";
        dir_k = xasprintf("%s/job-%u", jobs_dir, k);
        id = strcmp(kind, "sync") ? job_move_id(dir_k) : NULL;
        phase = job_phase(dir_k, id);
        json_out_object_begin(&o, NULL);
        json_out_u64(&o, "job", k);
        json_out_str(&o, "kind", kind);
        json_out_str(&o, "target", target);
        json_out_str(&o, "state", jstate);
        json_out_str(&o, "phase", phase);
        json_out_str(&o, "move", id);
        json_out_object_end(&o);
        buf_add_escaped(&t, target, strlen(target));
        if (!cli_json)
            printf("  %-4u %-12s %-24s %-8s %-14s %s\n", k, kind, buf_str(&t),
                   jstate, phase, id ? id : "-");
        buf_release(&t);
        free(dir_k);
        free(id);
        free(phase);
    }
    json_out_array_end(&o);
    json_out_object_end(&o);
    if (cli_json)
        printf("%s\n", json_out_text(&o));
    json_out_release(&o);
    free(jobs_dir);
}
