/*  =========================================================================
    asyncmesh/id.h - the size of a job id

    A job id is a canonical UUID: 36 characters, lowercase hex and dashes.
    A buffer for one, with its NUL, is ASYNC_ID_LEN bytes.
    =========================================================================
*/
#ifndef ASYNCMESH_ID_H_INCLUDED
#define ASYNCMESH_ID_H_INCLUDED

#define ASYNC_ID_LEN 37                 //  36-char UUID + NUL

#endif
