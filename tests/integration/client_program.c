//  Submits testing.mul(6, 7) and prints its result, using only the public
//  client API: cc client_program.c $(pkg-config --cflags --libs asyncmesh);
//  then, over built specs, testing.mul(2, 3) submitted and waited for in
//  one request (async_submit_wait), and three jobs submitted at once
//  (async_submit_many) and waited for (async_wait_all): prints 42, 6 and
//  "3 0" (jobs, failed), one a line
#include <asyncmesh/client.h>
#include <stdio.h>
#include <stdlib.h>

int
main (int argc, char *argv [])
{
    async_client_t *client = async_client_new (argc > 1 ? argv [1] : NULL);
    if (!client)
        return 4;
    char id [ASYNC_ID_LEN], *job_text = NULL;
    int rc = async_submit_json (client, "{\"task\": \"testing.mul\", \"args\": [6, 7]}", id);
    if (rc == 0)
        rc = async_wait_json (client, id, 30000, &job_text);
    if (rc == 0) {
        json_t *job = json_loads (job_text, 0, NULL);
        json_t *result = job ? async_job_result (job) : NULL;
        if (result)
            json_dumpf (result, stdout, JSON_ENCODE_ANY);
        printf ("\n");
        rc = result ? 0 : 1;
        json_decref (job);
    }
    if (rc == 0) {
        async_spec_t *spec = async_spec_new ("testing.mul");
        async_spec_arg (spec, json_integer (2));
        async_spec_arg (spec, json_integer (3));
        json_t *job = NULL;
        rc = async_submit_wait (client, spec, 30000, id, &job);
        async_spec_destroy (&spec);
        if (rc == 0)
            printf ("%" JSON_INTEGER_FORMAT "\n", json_integer_value (async_job_result (job)));
        json_decref (job);
    }
    if (rc == 0) {
        async_spec_t *specs [3];
        for (int i = 0; i < 3; i++)
            specs [i] = async_spec_new ("testing.noop");
        char ids [3 * ASYNC_ID_LEN];
        size_t failed = 0;
        rc = async_submit_many (client, specs, 3, ids, NULL);
        if (rc == 0)
            rc = async_wait_all (client, ids, 3, 30000, &failed);
        if (rc == 0)
            printf ("3 %zu\n", failed);
        for (int i = 0; i < 3; i++)
            async_spec_destroy (&specs [i]);
    }
    if (rc)
        fprintf (stderr, "client_program: %s\n", async_client_error (client));
    free (job_text);
    async_client_destroy (&client);
    return rc;
}
