#ifndef SOURCED_CSYSTEMD_SHIM_H
#define SOURCED_CSYSTEMD_SHIM_H
#include <systemd/sd-daemon.h>
#endif
