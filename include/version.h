/* Build identity, set by CMake (MXE_VERSION, MXE_REVISION). */
#ifndef MXE_VERSION_H
#define MXE_VERSION_H

#ifndef MXE_VERSION
#define MXE_VERSION "0.0.0-dev"
#endif
#ifndef MXE_REVISION
#define MXE_REVISION "unknown"
#endif

#endif
