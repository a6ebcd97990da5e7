#ifndef SOURCED_PEER_CREDENTIALS_H
#define SOURCED_PEER_CREDENTIALS_H
#include <sys/types.h>

/// The layout of Linux's `struct ucred` (SO_PEERCRED), which Glibc only declares with _GNU_SOURCE.
struct sourced_peer_credentials {
    pid_t pid;
    uid_t uid;
    gid_t gid;
};

#endif
