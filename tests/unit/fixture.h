/*  =========================================================================
    fixture - what the cmocka unit tests share: a temp dir made and removed
    per test, and asserts on strings that print what they saw

    Include after <cmocka.h> (and its prerequisites). Header only: every
    function is static inline, so a test that uses none of them still
    builds with -Werror. Each test that wants a temp dir keeps a
    `char dir [FIXTURE_DIR_MAX]` in its fixture:

        if (fixture_dir_make (self->dir, sizeof self->dir, "store"))
            return -1;                      //  in the setup
        ...
        return fixture_dir_remove (self->dir);      //  in the teardown
    =========================================================================
*/
#ifndef ASYNC_TEST_FIXTURE_H_INCLUDED
#define ASYNC_TEST_FIXTURE_H_INCLUDED

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

//  Room for a temp dir's path, TMPDIR included
#define FIXTURE_DIR_MAX 128

//  Make a fresh dir $TMPDIR/asyncmesh-test-<name>-XXXXXX (/tmp when TMPDIR
//  is not set) and write its path into dir (size bytes). Returns 0, or -1
//  (with a message on stderr) when the path does not fit or mkdtemp fails.
static inline int
fixture_dir_make (char *dir, size_t size, const char *name)
{
    const char *tmp = getenv ("TMPDIR");
    int length = snprintf (dir, size, "%s/asyncmesh-test-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp",
                           name);
    if (length < 0 || (size_t) length >= size) {
        fprintf (stderr, "fixture: the temp dir path for '%s' is too long\n", name);
        return -1;
    }
    if (!mkdtemp (dir)) {
        perror ("fixture: mkdtemp");
        return -1;
    }
    return 0;
}

//  Remove path and, if it is a dir, all below it (links are removed, not
//  followed). Returns 0, or -1 if anything stayed. Plain POSIX calls, so
//  that a test needs no feature macro (nftw would want _XOPEN_SOURCE).
static inline int
fixture_dir_remove (const char *path)
{
    struct stat st;
    if (lstat (path, &st))
        return -1;
    int rc = 0;
    if (S_ISDIR (st.st_mode)) {
        DIR *handle = opendir (path);
        if (!handle)
            return -1;
        struct dirent *entry;
        while ((entry = readdir (handle))) {
            if (!strcmp (entry->d_name, ".") || !strcmp (entry->d_name, ".."))
                continue;
            size_t size = strlen (path) + strlen (entry->d_name) + 2;
            char *child = (char *) malloc (size);
            if (!child) {
                rc = -1;
                break;
            }
            snprintf (child, size, "%s/%s", path, entry->d_name);
            if (fixture_dir_remove (child))
                rc = -1;
            free (child);
        }
        closedir (handle);
        if (rmdir (path))
            rc = -1;
    }
    else if (unlink (path))
        rc = -1;
    return rc;
}

//  Fail the test unless the string text contains part (text may be NULL)
#define assert_string_contains(text, part) \
    s_fixture_assert_contains ((text), (part), #text, __FILE__, __LINE__)

//  Fail the test unless text is an error message as the code writes them:
//  not empty, one line (no '\n')
#define assert_one_line_error(text) \
    s_fixture_assert_one_line ((text), #text, __FILE__, __LINE__)

static inline void
s_fixture_assert_contains (const char *text, const char *part, const char *expr,
                           const char *file, int line)
{
    if (text && strstr (text, part))
        return;
    print_error ("%s is '%s', which does not contain '%s'\n", expr, text ? text : "(null)",
                 part);
    _fail (file, line);
}

static inline void
s_fixture_assert_one_line (const char *text, const char *expr, const char *file, int line)
{
    if (text && *text && !strchr (text, '\n'))
        return;
    print_error ("%s is '%s', not a one-line error message\n", expr, text ? text : "(null)");
    _fail (file, line);
}

#endif
