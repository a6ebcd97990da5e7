#ifndef SOURCED_LINUX_H
#define SOURCED_LINUX_H
#include <spawn.h>
#include <sys/epoll.h>
#include <sys/types.h>

// Linux interfaces that Swift's Glibc module lacks: those Glibc declares only with _GNU_SOURCE,
// and epoll(7), used by `sourcectl bench`'s load loop.

/// The layout of Linux's `struct ucred` (SO_PEERCRED).
struct sourced_peer_credentials {
    pid_t pid;
    uid_t uid;
    gid_t gid;
};

/// syncfs(2): writes back everything of the file system holding `descriptor` and waits for it.
int sourced_syncfs(int descriptor);

/// fstatfs(2)'s f_type for the file system holding `descriptor`, in `type`: its magic number.
/// Returns 0, or -1 with errno set.
int sourced_file_system_type(int descriptor, unsigned int *type);

/// mallopt(M_MMAP_THRESHOLD, bytes): allocations of `bytes` or more are mapped on their own and
/// unmapped when freed, and the threshold no longer rises. Returns 1 on success, 0 on failure.
int sourced_set_mmap_threshold(int bytes);

/// posix_spawn_file_actions_addclosefrom_np: the child closes every descriptor from `from` on.
int sourced_spawn_close_from(posix_spawn_file_actions_t *actions, int from);

/// posix_spawn_file_actions_addchdir_np: the child changes to `path` before it runs the program.
int sourced_spawn_change_directory(posix_spawn_file_actions_t *actions, const char *path);

#endif
