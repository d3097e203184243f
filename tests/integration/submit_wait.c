//  submit_wait - a test helper for test_submit_wait.sh
//
//      submit_wait ENDPOINT SPEC_JSON
//
//  Calls async_submit_wait_json once with SPEC_JSON and prints
//  "rc=<code> id=<id> ms=<elapsed>" on the first line and the job JSON on
//  the second. Exits with the call's code.
#include <asyncmesh/client.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int
main (int argc, char *argv [])
{
    if (argc != 3) {
        fprintf (stderr, "usage: submit_wait ENDPOINT SPEC_JSON\n");
        return 2;
    }
    async_client_t *client = async_client_new (argv [1]);
    if (!client)
        return 4;
    char id [ASYNC_ID_LEN] = "";
    char *job = NULL;
    struct timespec start, end;
    clock_gettime (CLOCK_MONOTONIC, &start);
    int rc = async_submit_wait_json (client, argv [2], 30000, id, &job);
    clock_gettime (CLOCK_MONOTONIC, &end);
    long ms = (end.tv_sec - start.tv_sec) * 1000 + (end.tv_nsec - start.tv_nsec) / 1000000;
    printf ("rc=%d id=%s ms=%ld\n%s\n", rc, id, ms, job ? job : "null");
    if (rc)
        fprintf (stderr, "submit_wait: %s\n", async_client_error (client));
    free (job);
    async_client_destroy (&client);
    return rc;
}
