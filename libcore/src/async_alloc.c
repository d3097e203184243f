/*  =========================================================================
    async_alloc - memory for the programs: there, or the process stops

    The policy is in async_alloc.h.
    =========================================================================
*/
#define _GNU_SOURCE
#include "async_alloc.h"
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void
async_out_of_memory (size_t size)
{
    //  No stdio buffers, no allocation: one write of a line made on the stack
    char line [160];
    int length = size
        ? snprintf (line, sizeof line, "%s: out of memory (%zu bytes); stopping\n",
                    program_invocation_short_name, size)
        : snprintf (line, sizeof line, "%s: out of memory; stopping\n",
                    program_invocation_short_name);
    if (length > 0)
        (void) !write (STDERR_FILENO, line, (size_t) length < sizeof line
                       ? (size_t) length : sizeof line - 1);
    abort ();
}

static bool s_abort;

void
async_alloc_abort_on_failure (void)
{
    s_abort = true;
}

void
async_alloc_failed (size_t size)
{
    if (s_abort)
        async_out_of_memory (size);
}

void *
async_xmalloc (size_t size)
{
    void *memory = malloc (size ? size : 1);
    if (!memory)
        async_out_of_memory (size);
    return memory;
}

void *
async_xcalloc (size_t count, size_t size)
{
    void *memory = calloc (count ? count : 1, size ? size : 1);
    if (!memory)
        async_out_of_memory (count && size > SIZE_MAX / count ? SIZE_MAX : count * size);
    return memory;
}

void *
async_xrealloc (void *ptr, size_t size)
{
    void *memory = realloc (ptr, size ? size : 1);
    if (!memory)
        async_out_of_memory (size);
    return memory;
}

char *
async_xstrdup (const char *text)
{
    char *copy = strdup (text);
    if (!copy)
        async_out_of_memory (strlen (text) + 1);
    return copy;
}

char *
async_xstrndup (const char *text, size_t size)
{
    char *copy = strndup (text, size);
    if (!copy)
        async_out_of_memory (strnlen (text, size) + 1);
    return copy;
}
