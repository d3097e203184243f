//  test_lifecycle - the job state machine (broker/lifecycle.c)
#include "lifecycle.h"
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

//  The path of a job that runs once and succeeds, and of one retried,
//  are steps the machine has
static void
test_lifecycle_allows_the_paths_of_a_job (void **state)
{
    (void) state;
    async_job_t job = { .status = ASYNC_PENDING };
    assert_true (lifecycle_set (&job, ASYNC_ASSIGNED));
    assert_true (lifecycle_set (&job, ASYNC_ACTIVE));
    assert_true (lifecycle_set (&job, ASYNC_PENDING));     //  retried
    assert_true (lifecycle_set (&job, ASYNC_ASSIGNED));
    assert_true (lifecycle_set (&job, ASYNC_CALLBACKS));   //  RESULT before STARTED
    assert_true (lifecycle_set (&job, ASYNC_COMPLETED));
    assert_int_equal (job.status, ASYNC_COMPLETED);
    //  A parent goes active at once; a pending job may fail before it runs
    assert_true (lifecycle_allows (ASYNC_PENDING, ASYNC_ACTIVE));
    assert_true (lifecycle_allows (ASYNC_PENDING, ASYNC_CALLBACKS));
    assert_true (lifecycle_allows (ASYNC_ASSIGNED, ASYNC_PENDING));
}

//  Completed is final; nothing skips the callbacks; nothing goes back to
//  assigned from active; unknown statuses are refused
static void
test_lifecycle_refuses_what_it_has_not (void **state)
{
    (void) state;
    for (int to = ASYNC_PENDING; to <= ASYNC_COMPLETED; to++)
        assert_false (lifecycle_allows (ASYNC_COMPLETED, (async_status_t) to));
    for (int from = ASYNC_PENDING; from < ASYNC_CALLBACKS; from++)
        assert_false (lifecycle_allows ((async_status_t) from, ASYNC_COMPLETED));
    assert_false (lifecycle_allows (ASYNC_ACTIVE, ASYNC_ASSIGNED));
    assert_false (lifecycle_allows (ASYNC_ACTIVE, ASYNC_ACTIVE));
    assert_false (lifecycle_allows (ASYNC_CALLBACKS, ASYNC_CALLBACKS));
    assert_false (lifecycle_allows (ASYNC_CALLBACKS, ASYNC_PENDING));
    assert_false (lifecycle_allows ((async_status_t) 7, ASYNC_PENDING));
    assert_false (lifecycle_allows (ASYNC_PENDING, (async_status_t) -1));
}

//  A refused step leaves the job as it was (and returns false); a debug
//  build stops on it instead, so that the tests find the bug
static void
test_lifecycle_set_refuses_and_keeps_the_status (void **state)
{
    (void) state;
    pid_t pid = fork ();
    assert_true (pid >= 0);
    if (pid == 0) {
        async_job_t job = { .status = ASYNC_COMPLETED };
        bool set = lifecycle_set (&job, ASYNC_PENDING);
        _exit (!set && job.status == ASYNC_COMPLETED ? 0 : 1);
    }
    int status = 0;
    assert_int_equal (waitpid (pid, &status, 0), pid);
#ifdef NDEBUG
    assert_true (WIFEXITED (status));
    assert_int_equal (WEXITSTATUS (status), 0);
#else
    assert_true (WIFSIGNALED (status));
    assert_int_equal (WTERMSIG (status), SIGABRT);
#endif
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_lifecycle_allows_the_paths_of_a_job),
        cmocka_unit_test (test_lifecycle_refuses_what_it_has_not),
        cmocka_unit_test (test_lifecycle_set_refuses_and_keeps_the_status),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
