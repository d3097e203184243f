/*  =========================================================================
    backtrace - the backtrace of a task's process that crashed

    See backtrace.h. libdw (elfutils) rather than backtrace_symbols: a
    module's tasks are usually static functions, which only the ELF symbol
    table (.symtab) names, not the dynamic one that backtrace_symbols and
    dladdr read; and libdw reads the source file:line from DWARF too.
    =========================================================================
*/
#define _GNU_SOURCE
#include "backtrace.h"
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <ucontext.h>
#include <unistd.h>

#define S_HEADER     5             //  length (4) + type (1)
#define S_MAPS_MAX   (256 * 1024)  //  of /proc/self/maps, at most
#define S_STACK_SIZE (64 * 1024)   //  the handler's own stack

static int s_fd = -1;
static char s_record [S_HEADER + NODE_BACKTRACE_FRAMES * 17 + 1 + S_MAPS_MAX];
static char s_stack [S_STACK_SIZE];

//  `value` in lowercase hex at `at`; returns the end
static char *
s_hex (char *at, uintptr_t value)
{
    char digits [2 * sizeof value];
    int count = 0;
    do {
        digits [count++] = "0123456789abcdef" [value & 15];
        value >>= 4;
    } while (value);
    while (count)
        *at++ = digits [--count];
    return at;
}

//  Where the thread was when the signal came, or 0 if unknown here
static uintptr_t
s_pc (void *context)
{
    const ucontext_t *uc = (const ucontext_t *) context;
#if defined(__x86_64__)
    return uc ? (uintptr_t) uc->uc_mcontext.gregs [REG_RIP] : 0;
#elif defined(__aarch64__)
    return uc ? (uintptr_t) uc->uc_mcontext.pc : 0;
#else
    (void) uc;
    return 0;
#endif
}

static void
s_on_crash (int signum, siginfo_t *info, void *context)
{
    (void) info;
    int saved = errno;
    void *frames [NODE_BACKTRACE_FRAMES];
    int count = backtrace (frames, NODE_BACKTRACE_FRAMES);
    //  Leave out this handler and the kernel's signal frame: from the
    //  frame that crashed on, when it is found
    uintptr_t pc = s_pc (context);
    int first = count > 2 ? 2 : 0;
    for (int i = 0; pc && i < count; i++)
        if ((uintptr_t) frames [i] == pc) {
            first = i;
            break;
        }
    char *at = s_record + S_HEADER;
    char *end = s_record + sizeof s_record;
    for (int i = first; i < count; i++) {
        at = s_hex (at, (uintptr_t) frames [i]);
        if (i + 1 < count)
            *at++ = ' ';
    }
    *at++ = '\n';
    int maps = open ("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (maps >= 0) {
        char *start = at;
        while (at < end) {
            ssize_t got = read (maps, at, (size_t) (end - at));
            if (got > 0)
                at += got;
            else if (got == 0 || errno != EINTR)
                break;
        }
        close (maps);
        while (at > start && at [-1] != '\n')
            at--;  //  whole lines only
    }
    uint32_t length = (uint32_t) (at - s_record - S_HEADER);
    memcpy (s_record, &length, 4);
    s_record [4] = 'T';
    for (const char *from = s_record; from < at;) {
        ssize_t sent = send (s_fd, from, (size_t) (at - from), MSG_NOSIGNAL);
        if (sent > 0)
            from += sent;
        else if (sent == 0 || errno != EINTR)
            break;
    }
    errno = saved;
    //  The default action again (SA_RESETHAND set it): a fault happens
    //  again when the handler returns, a signal sent is sent again
    signal (signum, SIG_DFL);
    raise (signum);
}

void
node_backtrace_arm (int fd)
{
    s_fd = fd;
    void *warm [2];
    backtrace (warm, 2);  //  loads libgcc_s now, not in the handler
    stack_t stack;
    memset (&stack, 0, sizeof stack);
    stack.ss_sp = s_stack;
    stack.ss_size = sizeof s_stack;
    sigaltstack (&stack, NULL);  //  a stack overflow has no stack left
    struct sigaction action;
    memset (&action, 0, sizeof action);
    action.sa_sigaction = s_on_crash;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND;
    sigemptyset (&action.sa_mask);
    static const int crashes [] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS };
    for (size_t i = 0; i < sizeof crashes / sizeof crashes [0]; i++)
        sigaction (crashes [i], &action, NULL);
}

//  ---------------------------------------------------------------------

//  The last part of a path
static const char *
s_base (const char *path)
{
    const char *slash = path ? strrchr (path, '/') : NULL;
    return slash ? slash + 1 : path;
}

int
node_backtrace_symbolize (const char *payload, size_t size, char *out, size_t out_size)
{
    if (out_size == 0)
        return 0;
    *out = 0;
    const char *newline = payload ? memchr (payload, '\n', size) : NULL;
    if (!newline)
        return 0;
    uintptr_t frames [NODE_BACKTRACE_FRAMES];
    int count = 0;
    for (const char *at = payload; at < newline && count < NODE_BACKTRACE_FRAMES;) {
        uintptr_t value = 0;
        int digits = 0;
        for (; at < newline && *at != ' '; at++, digits++) {
            int digit = *at >= '0' && *at <= '9' ? *at - '0'
                : *at >= 'a' && *at <= 'f'       ? *at - 'a' + 10
                                                 : -1;
            if (digit < 0 || digits >= (int) (2 * sizeof value))
                return 0;  //  not a trace of ours
            value = value << 4 | (uintptr_t) digit;
        }
        if (digits == 0)
            return 0;
        frames [count++] = value;
        if (at < newline)
            at++;
    }
    static const Dwfl_Callbacks callbacks = {
        .find_elf = dwfl_linux_proc_find_elf,
        .find_debuginfo = dwfl_standard_find_debuginfo,
    };
    size_t maps_size = size - (size_t) (newline + 1 - payload);
    FILE *maps = maps_size ? fmemopen ((void *) (newline + 1), maps_size, "r") : NULL;
    Dwfl *dwfl = maps ? dwfl_begin (&callbacks) : NULL;
    if (dwfl) {
        dwfl_report_begin (dwfl);
        int rc = dwfl_linux_proc_maps_report (dwfl, maps);
        dwfl_report_end (dwfl, NULL, NULL);
        if (rc) {
            dwfl_end (dwfl);
            dwfl = NULL;
        }
    }
    if (maps)
        fclose (maps);
    size_t used = 0;
    int written = 0;
    for (int i = 0; i < count; i++) {
        //  A return address is just past its call: look up the call
        Dwarf_Addr addr = (Dwarf_Addr) frames [i] - (i > 0 ? 1 : 0);
        Dwfl_Module *module = dwfl ? dwfl_addrmodule (dwfl, addr) : NULL;
        const char *name = module ? dwfl_module_addrname (module, addr) : NULL;
        Dwarf_Addr base = 0;
        const char *path = module
            ? dwfl_module_info (module, NULL, &base, NULL, NULL, NULL, NULL, NULL)
            : NULL;
        Dwfl_Line *line = module ? dwfl_module_getsrc (module, addr) : NULL;
        int number = 0;
        const char *file = line ? dwfl_lineinfo (line, NULL, &number, NULL, NULL, NULL) : NULL;
        char where [320] = "";
        if (file && number > 0)
            snprintf (where, sizeof where, " (%s:%d)", s_base (file), number);
        char place [300];
        if (path)
            snprintf (place, sizeof place, "%s+0x%" PRIx64, s_base (path),
                      (uint64_t) (frames [i] - base));
        else
            snprintf (place, sizeof place, "0x%" PRIxPTR, frames [i]);
        int len = snprintf (out + used, out_size - used, "%s#%d %s%s %s", i ? "\n" : "", i,
                            name ? name : "??", where, place);
        if (len < 0 || (size_t) len >= out_size - used) {
            out [used] = 0;  //  no half a frame
            break;
        }
        used += (size_t) len;
        written++;
    }
    if (dwfl)
        dwfl_end (dwfl);
    return written;
}
