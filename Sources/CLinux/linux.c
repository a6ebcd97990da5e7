#define _GNU_SOURCE
#include <malloc.h>
#include <spawn.h>
#include <sys/vfs.h>
#include <unistd.h>
#include "linux.h"

int sourced_syncfs(int descriptor) {
    return syncfs(descriptor);
}

int sourced_file_system_type(int descriptor, unsigned int *type) {
    struct statfs info;
    if (fstatfs(descriptor, &info) != 0) {
        return -1;
    }
    *type = (unsigned int)info.f_type;
    return 0;
}

int sourced_set_mmap_threshold(int bytes) {
    return mallopt(M_MMAP_THRESHOLD, bytes);
}

int sourced_spawn_close_from(posix_spawn_file_actions_t *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
}

int sourced_spawn_change_directory(posix_spawn_file_actions_t *actions, const char *path) {
    return posix_spawn_file_actions_addchdir_np(actions, path);
}
