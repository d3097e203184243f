/*  =========================================================================
    asyncmesh/id.h - the size of a job id

    A job id is a canonical UUID: ASYNC_ID_CHARS (36) characters, lowercase
    hex and dashes. A buffer for one, with its NUL, is ASYNC_ID_LEN bytes.
    =========================================================================
*/
#ifndef ASYNCMESH_ID_H_INCLUDED
#define ASYNCMESH_ID_H_INCLUDED

#define ASYNC_ID_CHARS 36               //  a UUID's characters
#define ASYNC_ID_LEN (ASYNC_ID_CHARS + 1)   //  ... and its NUL

#endif
