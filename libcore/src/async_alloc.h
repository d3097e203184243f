/*  =========================================================================
    async_alloc - memory for the programs: there, or the process stops

    The policy of asyncmesh on running out of memory:

    - The programs (asyncbroker, asyncnode, asyncctl) allocate through
      these calls. When the system has no memory left they print one line
      "PROGRAM: out of memory (N bytes); stopping" to stderr and abort ():
      a broker or node that goes on without the memory it needs would do
      worse than stop (a job half recorded, a message half built), and the
      broker's store and the nodes' retries are made for a process that
      stops at any moment.
    - The library's public functions (asyncmesh/client.h, asyncmesh/task.h)
      never abort: they return ASYNC_ENOMEM (or NULL where they return a
      pointer, with errno ENOMEM), since the process they run in is not
      ours to stop.
    - The code both share (idmap, job records) calls async_alloc_failed
      when an allocation fails: in a program, which said so at its start
      (async_alloc_abort_on_failure), that stops the process as above; in
      the library it returns and the code reports the failure to its
      caller. (A program's copy of this code is its own, linked from the
      static library: asyncnode's task API calls, from libasync.so, keep
      the library's policy.)

    (Private; not installed.)
    =========================================================================
*/
#ifndef ASYNC_ALLOC_H_INCLUDED
#define ASYNC_ALLOC_H_INCLUDED

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

//  Make every failed allocation of shared code stop this process (the
//  programs call it first thing in main)
void
    async_alloc_abort_on_failure (void);

//  Shared code could not get `size` bytes: stops the process in a
//  program; returns in the library (the caller reports the failure)
void
    async_alloc_failed (size_t size);

//  size bytes, not zeroed
void *
    async_xmalloc (size_t size);

//  count * size bytes, zeroed (an overflowing product is out of memory)
void *
    async_xcalloc (size_t count, size_t size);

//  ptr grown or shrunk to size bytes (the new bytes are not zeroed)
void *
    async_xrealloc (void *ptr, size_t size);

//  A copy of text
char *
    async_xstrdup (const char *text);

//  A copy of at most size bytes of text, NUL-terminated
char *
    async_xstrndup (const char *text, size_t size);

//  Stop the process for want of `size` bytes (0: not known), with the one
//  message, by abort (): for memory a library (jansson, msgpack-c) could
//  not get
void
    async_out_of_memory (size_t size) __attribute__ ((noreturn));

#ifdef __cplusplus
}
#endif
#endif
