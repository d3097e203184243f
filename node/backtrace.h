/*  =========================================================================
    backtrace - the backtrace of a task's process that crashed

    A child of process isolation arms the handler before it runs its task.
    When the task crashes (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT,
    SIGTRAP, SIGSYS), the handler, on the crashing thread and on a stack of
    its own, writes one 'T' record to the job's channel and lets the signal
    end the process as it would have:

        'T' trace       the return addresses (hex, space-separated), a
                        newline, then the text of /proc/self/maps

    The handler only calls functions safe in a signal handler (backtrace,
    loaded beforehand, open, read, send). The worker symbolizes the record
    afterwards, in the node, with libdw (elfutils): the function of each
    frame from the ELF symbol tables (static functions included) and its
    source file:line from the DWARF debug information when the module has
    it, for the failure's detail.

    (private to asyncnode)
    =========================================================================
*/
#ifndef NODE_BACKTRACE_H_INCLUDED
#define NODE_BACKTRACE_H_INCLUDED

#include <stddef.h>

//  Frames at most in a trace
#define NODE_BACKTRACE_FRAMES 48

//  In the child: on a crash, write a 'T' record (header and payload) on
//  the blocking stream socket `fd`
void node_backtrace_arm (int fd);

//  In the worker: the trace of a 'T' payload as readable lines, one a
//  frame from the crashing one on ("#0 s_segfault (testing.c:445)
//  testing.so+0x1a2b"), into out (cut to out_size - 1). Returns the number
//  of frames written, 0 if the payload is not a trace.
int node_backtrace_symbolize (const char *payload, size_t size, char *out, size_t out_size);

#endif
