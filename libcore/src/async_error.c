/*  =========================================================================
    async_error - error names and messages, from ASYNC_ERRNO_MAP
    =========================================================================
*/
#include "asyncmesh/error.h"

const char *
async_strerror (int err)
{
    switch (err) {
#define ASYNC_ERRNO_CASE(name, value, msg) case value: return msg;
        ASYNC_ERRNO_MAP (ASYNC_ERRNO_CASE)
#undef ASYNC_ERRNO_CASE
    }
    return "unknown error";
}

const char *
async_errname (int err)
{
    switch (err) {
#define ASYNC_ERRNO_CASE(name, value, msg) case value: return #name;
        ASYNC_ERRNO_MAP (ASYNC_ERRNO_CASE)
#undef ASYNC_ERRNO_CASE
    }
    return "EUNKNOWN";
}

int
async_exit_code (int err)
{
    if (err >= 0 && err <= ASYNC_EUNSAVED)
        return err;
    if (err == ASYNC_EINVAL)
        return ASYNC_EUSAGE;
    return ASYNC_EREFUSED;
}
