/*  =========================================================================
    asyncmesh/error.h - error codes, exit codes and their messages

    One table (ASYNC_ERRNO_MAP) builds the enum, the names and
    async_strerror (). The first block of codes are also the documented
    process exit codes of every asyncmesh program (docs/spec.md section 5).
    =========================================================================
*/
#ifndef ASYNCMESH_ERROR_H_INCLUDED
#define ASYNCMESH_ERROR_H_INCLUDED

#include "export.h"

#ifdef __cplusplus
extern "C" {
#endif

//  code, name, value, message
#define ASYNC_ERRNO_MAP(X)                                                  \
    X (OK,       0,  "success")                                             \
    X (EFAILED,  1,  "the job completed with a failure")                    \
    X (EUSAGE,   2,  "usage error")                                         \
    X (ETIMEOUT, 3,  "timed out waiting")                                   \
    X (EUNREACH, 4,  "cannot reach the broker")                             \
    X (ENOJOB,   5,  "no such job")                                         \
    X (EREFUSED, 6,  "refused by the broker")                               \
    X (EUNSAVED, 7,  "applied, not saved")                                  \
    X (ENOMEM,   20, "out of memory")                                       \
    X (EPROTO,   21, "malformed or unexpected message")                     \
    X (ESTORE,   22, "storage error")                                       \
    X (EINVAL,   23, "invalid argument")                                    \
    X (EIO,      24, "input/output error")                                  \
    X (ENOTASK,  25, "no such task")

typedef enum {
#define ASYNC_ERRNO_ENUM(name, value, msg) ASYNC_##name = value,
    ASYNC_ERRNO_MAP (ASYNC_ERRNO_ENUM)
#undef ASYNC_ERRNO_ENUM
} async_err_t;

//  Human-readable message for an error code; never NULL.
ASYNC_EXPORT const char *
    async_strerror (int err);

//  Symbolic name ("EUNREACH") for an error code; never NULL.
ASYNC_EXPORT const char *
    async_errname (int err);

//  The process exit code for an error: codes 0..6 map to themselves,
//  everything else to ASYNC_EREFUSED (6) when it came from the broker, or
//  ASYNC_EUSAGE (2) for local invalid input.
ASYNC_EXPORT int
    async_exit_code (int err);

#ifdef __cplusplus
}
#endif
#endif
