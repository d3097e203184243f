/*  =========================================================================
    asyncmesh/export.h - ASYNC_EXPORT, the mark of a public function

    libasync is built with -fvisibility=hidden: only functions declared
    with ASYNC_EXPORT (those of the asyncmesh/ headers) are in its dynamic
    symbol table; its internal helpers stay inside. A task module marks
    what the node looks up in it (ASYNC_MODULE_INIT does) the same way, so
    it may be built with -fvisibility=hidden too.
    =========================================================================
*/
#ifndef ASYNCMESH_EXPORT_H_INCLUDED
#define ASYNCMESH_EXPORT_H_INCLUDED

#if defined (__GNUC__) || defined (__clang__)
#   define ASYNC_EXPORT __attribute__ ((visibility ("default")))
#else
#   define ASYNC_EXPORT
#endif

#endif
