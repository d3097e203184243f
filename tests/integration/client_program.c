//  Submits testing.mul(6, 7) and prints its result, using only the public
//  client API: cc client_program.c $(pkg-config --cflags --libs asyncmesh)
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
    else
        fprintf (stderr, "client_program: %s\n", async_client_error (client));
    free (job_text);
    async_client_destroy (&client);
    return rc;
}
