/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/core/journal.h: the record of one move, so that an interrupted move
 * can be resumed or aborted by `rbdmove resume ID` / `rbdmove abort ID`.
 *
 * A journal is a small file of "key value" lines (values percent-encoded)
 * in the state directory, rewritten atomically (temporary file, fsync,
 * rename, fsync of the directory) at every step, so that after a crash it
 * holds either the previous step or the next one, never half of each.
 * Beside it, ID.log collects one human line per event. Neither holds a
 * secret: credentials stay in clouds.yaml and the environment. A lock file
 * keeps two processes from driving one move at once.
 *
 * The journal's last line is "end xxh64 " and the XXH64 of everything
 * before that line, so that a file the disk or a person damaged is refused,
 * not trusted: an empty file, a cut last line, a line that does not parse
 * or a checksum that does not match make it "damaged" (ERROR_STATE), and
 * its files are left as they are. A file with no end line at all is one
 * written by an older rbdmove and is read unchecked.
 *
 * What resume and abort act on must be the user's own: the state directory
 * must belong to the user and be writable by nobody else (ERROR_USAGE
 * otherwise), and each file of a journal must be a plain file of the
 * user's that nobody else can write, never a symbolic link (ERROR_STATE).
 */
#ifndef RBDMOVE_JOURNAL_H
#define RBDMOVE_JOURNAL_H

#include <stddef.h>

#include "rbdmove/base/error.h"

struct journal;

/* $XDG_STATE_HOME/rbdmove, else ~/.local/state/rbdmove. Caller owns it. */
char *journal_default_dir(void);

/*
 * Create the journal of a new move under dir (created with mode 0700 if
 * needed) with a fresh id, locked by this process. Its journal file is
 * first written by journal_save.
 */
int journal_create(const char *dir, struct journal **out,
                   struct error *err) MUST_CHECK;
/* Lock, then load, the journal id under dir. ERROR_USAGE when unknown,
 * ERROR_STATE when another process holds it or it is damaged. */
int journal_open(const char *dir, const char *id, struct journal **out,
                 struct error *err) MUST_CHECK;
/* Load without locking, for status; errors as journal_open. */
int journal_read(const char *dir, const char *id, struct journal **out,
                 struct error *err) MUST_CHECK;
/*
 * Remove the files of a move that changed nothing: only of a journal this
 * process made with journal_create (its lock held since, so no other run
 * has read it). The caller knows that nothing was changed (its pre-flight
 * failed, or it recorded no step past "new"). Any other journal, opened
 * and read, is kept, and ERROR_STATE says so: whatever its state, a later
 * resume or abort may need it.
 */
int journal_discard(struct journal *j, struct error *err) MUST_CHECK;
/*
 * A lock of its own for work that has no journal (sync): dir/NAME.lock,
 * held while *fd_out is open (flock, so it goes with the process, even
 * after kill -9). ERROR_BUSY when another process holds it.
 */
int journal_lock_name(const char *dir, const char *name, int *fd_out,
                      struct error *err) MUST_CHECK;
/*
 * A note that the holders of lock NAME leave each other, in dir/NAME.note
 * (read and written only with the lock held): what the last holder wrote,
 * owned (NULL: none, or unreadable), and this holder's (value NULL
 * removes it). Failures to write are ignored: the note only saves time.
 */
char *journal_note_get(const char *dir, const char *name);
void journal_note_set(const char *dir, const char *name, const char *value);
/* Release it (fd -1: nothing). */
void journal_unlock_name(int fd);
/* NULL-safe; releases the lock. */
void journal_free(struct journal *j);

const char *journal_id(const struct journal *j);
/* The value of key (borrowed), or NULL. */
const char *journal_get(const struct journal *j, const char *key);
/* Set (value NULL removes) in memory; journal_save writes. The key "end"
 * is reserved (a bug). */
void journal_set(struct journal *j, const char *key, const char *value);
void journal_setf(struct journal *j, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int journal_save(struct journal *j, struct error *err) MUST_CHECK;
/* Append one line to ID.log (with the time); failures are ignored. */
void journal_log(struct journal *j, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The keys, in order (borrowed), for status output. */
size_t journal_count(const struct journal *j);
const char *journal_key(const struct journal *j, size_t i);
const char *journal_value(const struct journal *j, size_t i);

/* The ids of the journals under dir, oldest first. */
int journal_list(const char *dir, char ***ids, size_t *n,
                 struct error *err) MUST_CHECK;
void journal_ids_free(char **ids, size_t n);

#endif
