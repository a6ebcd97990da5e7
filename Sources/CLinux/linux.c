#define _GNU_SOURCE
#include <malloc.h>
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
