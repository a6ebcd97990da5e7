#ifndef SOURCED_LINUX_H
#define SOURCED_LINUX_H
#include <sys/types.h>

// Linux interfaces that Glibc declares only with _GNU_SOURCE, which Swift's Glibc module lacks.

/// The layout of Linux's `struct ucred` (SO_PEERCRED).
struct sourced_peer_credentials {
    pid_t pid;
    uid_t uid;
    gid_t gid;
};

/// syncfs(2): writes back everything of the file system holding `descriptor` and waits for it.
int sourced_syncfs(int descriptor);

#endif
