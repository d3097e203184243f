/*  =========================================================================
    asyncmesh.h - the whole public API of libasync in one include

        #include <asyncmesh.h>

    The client API (asyncmesh/client.h), the task API for modules
    (asyncmesh/task.h), error codes (asyncmesh/error.h), logging
    (asyncmesh/log.h), the version (asyncmesh/version.h) and ASYNC_EXPORT
    (asyncmesh/export.h). Build with `pkg-config --cflags --libs asyncmesh`.
    =========================================================================
*/
#ifndef ASYNCMESH_H_INCLUDED
#define ASYNCMESH_H_INCLUDED

#include "asyncmesh/export.h"
#include "asyncmesh/version.h"
#include "asyncmesh/error.h"
#include "asyncmesh/id.h"
#include "asyncmesh/log.h"
#include "asyncmesh/client.h"
#include "asyncmesh/task.h"

#endif
