// The target exists for its header; SwiftPM needs one source file to build it.
#include "peer_credentials.h"
