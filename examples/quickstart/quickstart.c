/*  =========================================================================
    quickstart - the zc.async quickstart, step by step, through the C
    client API (asyncmesh/client.h). Needs a broker and nodes with pi.so:
    see README.md beside this file.

        quickstart [ENDPOINT]
    =========================================================================
*/
#include <asyncmesh/client.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

//  Submit a spec, wait for it, return the job JSON (or exit on failure)
static json_t *
s_run (async_client_t *client, async_spec_t **spec_p)
{
    char id [ASYNC_ID_LEN];
    int rc = async_submit (client, *spec_p, id);
    async_spec_destroy (spec_p);
    if (rc) {
        fprintf (stderr, "quickstart: submit failed: %s\n", async_client_error (client));
        exit (async_exit_code (rc));
    }
    json_t *job = NULL;
    rc = async_wait (client, id, 120000, &job);
    if (rc) {
        char *text = job ? json_dumps (async_job_failure (job), 0) : NULL;
        fprintf (stderr, "quickstart: job %s did not succeed (%s): %s\n", id,
                 async_strerror (rc), text ? text : async_client_error (client));
        exit (async_exit_code (rc));
    }
    return job;
}

//  parallel(pi.generate_sample(size) x n, postprocess=pi.process_samples)
static async_spec_t *
s_pi_spec (int children, json_int_t size)
{
    async_spec_t *parallel = async_spec_parallel ();
    for (int i = 0; i < children; i++) {
        async_spec_t *child = async_spec_new ("pi.generate_sample");
        if (size)
            async_spec_kwarg (child, "size", json_integer (size));
        async_spec_add_child (parallel, &child);
    }
    async_spec_t *post = async_spec_new ("pi.process_samples");
    async_spec_set_postprocess (parallel, &post);
    return parallel;
}

int
main (int argc, char *argv [])
{
    async_client_t *client = async_client_new (argc > 1 ? argv [1] : NULL);
    if (!client) {
        fprintf (stderr, "quickstart: cannot create a client\n");
        return 4;
    }
    //  1. time.time as a job
    async_spec_t *spec = async_spec_new ("time.time");
    json_t *job = s_run (client, &spec);
    double when = json_number_value (async_job_result (job));
    printf ("C 1. time.time() -> %.6f (now %ld)\n", when, (long) time (NULL));
    json_decref (job);
    if (fabs (when - (double) time (NULL)) > 60)
        return 1;

    //  2. Monte Carlo pi: three samples of 100000, reduced by a postprocess
    spec = s_pi_spec (3, 0);
    job = s_run (client, &spec);
    double pi = json_number_value (async_job_result (job));
    printf ("C 2. parallel(pi.generate_sample x3, postprocess=pi.process_samples) -> %.6f\n", pi);
    json_decref (job);

    //  3. The same with closures: size=1000000
    spec = s_pi_spec (3, 1000000);
    job = s_run (client, &spec);
    double pi2 = json_number_value (async_job_result (job));
    printf ("C 3. parallel(pi.generate_sample(size=1000000) x3, ...) -> %.6f\n", pi2);
    json_decref (job);
    async_client_destroy (&client);
    return fabs (pi - M_PI) < 0.02 && fabs (pi2 - M_PI) < 0.02 ? 0 : 1;
}
