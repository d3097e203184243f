//  submit_wait - a test helper for test_submit_wait.sh
//
//      submit_wait ENDPOINT SPEC_JSON
//      submit_wait ENDPOINT SPEC_A SPEC_B COUNT
//      submit_wait ENDPOINT SPEC_JSON ROUNDS
//      submit_wait ENDPOINT wait-all COUNT
//
//  Calls async_submit_wait_json once with SPEC_JSON and prints
//  "rc=<code> id=<id> ms=<elapsed>" on the first line and the job JSON on
//  the second. With COUNT: async_submit_wait_many_json over COUNT specs,
//  SPEC_A and SPEC_B in turn, and prints "rc=<code> failed=<n> ids=<n>"
//  (ids: how many distinct ids came back). With ROUNDS: ROUNDS calls of
//  async_submit_wait_json one after the other, each with the job's
//  result checked, and prints "rc=<code> rounds=<n done>". With wait-all:
//  COUNT testing.noop by async_submit_many_json, then async_wait_all over
//  their ids, then async_wait_all over those ids with one that is not
//  terminated within ASYNC_ID_LEN bytes; prints "rc=<code> failed=<n>
//  bad=<code>". Exits with the first call's code.
#include <asyncmesh/client.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int
main (int argc, char *argv [])
{
    if (argc < 3 || argc > 5) {
        fprintf (stderr, "usage: submit_wait ENDPOINT SPEC_JSON [ROUNDS] | SPEC_A SPEC_B COUNT"
                 " | wait-all COUNT\n");
        return 2;
    }
    async_client_t *client = async_client_new (argv [1]);
    if (!client)
        return 4;
    if (argc == 4 && strcmp (argv [2], "wait-all") == 0) {
        size_t count = (size_t) atoi (argv [3]);
        const char **specs = calloc (count + 1, sizeof (char *));
        char *ids = calloc (count + 1, ASYNC_ID_LEN);
        for (size_t i = 0; i < count; i++)
            specs [i] = "{\"task\": \"testing.noop\"}";
        size_t failed = 0;
        int rc = async_submit_many_json (client, specs, count, ids, NULL);
        if (rc == 0)
            rc = async_wait_all (client, ids, count, 30000, &failed);
        //  The last entry spans all its ASYNC_ID_LEN bytes: not a job id
        memset (ids + count * ASYNC_ID_LEN, 'f', ASYNC_ID_LEN);
        int bad = async_wait_all (client, ids, count + 1, 30000, NULL);
        printf ("rc=%d failed=%zu bad=%d\n", rc, failed, bad);
        fprintf (stderr, "submit_wait: %s\n", async_client_error (client));
        free (specs);
        free (ids);
        async_client_destroy (&client);
        return rc;
    }
    if (argc == 5) {
        size_t count = (size_t) atoi (argv [4]);
        const char **specs = calloc (count + 1, sizeof (char *));
        char *ids = calloc (count + 1, ASYNC_ID_LEN);
        for (size_t i = 0; i < count; i++)
            specs [i] = argv [2 + i % 2];
        size_t failed = 0;
        int rc = async_submit_wait_many_json (client, specs, count, 60000, ids, &failed);
        qsort (ids, count, ASYNC_ID_LEN, (int (*) (const void *, const void *)) strcmp);
        size_t distinct = 0;
        for (size_t i = 0; i < count; i++)
            distinct += ids [i * ASYNC_ID_LEN]
                     && (i == 0 || strcmp (ids + i * ASYNC_ID_LEN, ids + (i - 1) * ASYNC_ID_LEN));
        printf ("rc=%d failed=%zu ids=%zu\n", rc, failed, distinct);
        if (rc)
            fprintf (stderr, "submit_wait: %s\n", async_client_error (client));
        free (specs);
        free (ids);
        async_client_destroy (&client);
        return rc;
    }
    if (argc == 4) {
        int rounds = atoi (argv [3]), done = 0, rc = 0;
        for (; done < rounds && rc == 0; done++) {
            char id [ASYNC_ID_LEN];
            char *job = NULL;
            rc = async_submit_wait_json (client, argv [2], 30000, id, &job);
            json_t *parsed = job ? json_loads (job, 0, NULL) : NULL;
            const char *status = json_string_value (json_object_get (parsed, "status"));
            json_t *failure = json_object_get (parsed, "failure");
            bool succeeded = status && strcmp (status, "completed") == 0
                          && (!failure || json_is_null (failure));
            json_decref (parsed);
            if (rc == 0 && !succeeded) {
                fprintf (stderr, "submit_wait: round %d did not succeed: %s\n", done,
                         job ? job : "null");
                rc = 1;
            }
            free (job);
        }
        printf ("rc=%d rounds=%d\n", rc, rc ? done - 1 : done);
        if (rc > 1)
            fprintf (stderr, "submit_wait: %s\n", async_client_error (client));
        async_client_destroy (&client);
        return rc;
    }
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
