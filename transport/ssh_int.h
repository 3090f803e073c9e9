/* SPDX-License-Identifier: MIT */
/*
 * transport/ssh_int.h: shared by ssh.c and ssh_util.c only (the interface
 * is ssh.h): what rbdmove reads of the user's key files and account.
 */
#ifndef RBDMOVE_SSH_INT_H
#define RBDMOVE_SSH_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "transport/ssh.h"

struct key_info {
    char type[64]; /* "ssh-ed25519", "ssh-rsa", ... or "unknown" */
    bool encrypted;
};

/* The key type named at the start of an SSH wire-format key blob. */
void ssh_blob_key_type(const unsigned char *blob, size_t len, char *out,
                       size_t outlen);
/* The type of the private key file path, and whether a passphrase
 * protects it ("unknown" when it cannot be read). */
void ssh_key_file_info(const char *path, struct key_info *ki);
bool ssh_file_exists(const char *path);
/* The user's home directory and name (caller frees). */
char *ssh_home_dir(void);
char *ssh_local_user(void);

#endif
