#define _GNU_SOURCE
#include <unistd.h>
#include "linux.h"

int sourced_syncfs(int descriptor) {
    return syncfs(descriptor);
}
