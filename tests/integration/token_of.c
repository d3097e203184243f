/*  =========================================================================
    token_of - a test helper for test_hello_held_adopt_proof.sh: the token
    and the proof that the last broker process of a store would have given
    an attempt, as an attacker who stole the store's secret could make them

    token_of DIR JOB NODE ATTEMPT: DIR is a COPY of a stopped broker's data
    directory (opening it may write to it). Prints "TOKEN PROOF" (decimal),
    for the epoch of the last process that ran on the store (broker/token.h).
    Exit 0, 1 if the store or its secret cannot be read, 2 on bad arguments
    =========================================================================
*/
#include "keys.h"
#include "store.h"
#include "token.h"
#include "async_util.h"
#include "asyncmesh/log.h"
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
main (int argc, char **argv)
{
    if (argc != 5) {
        fprintf (stderr, "usage: token_of DIR JOB NODE ATTEMPT\n");
        return 2;
    }
    char *end = NULL;
    errno = 0;
    long attempt = strtol (argv [4], &end, 10);
    if (errno || !end || *end || end == argv [4] || attempt < 1 || attempt > 1000000) {
        fprintf (stderr, "token_of: ATTEMPT '%s' is not an integer from 1 to 1000000\n",
                 argv [4]);
        return 2;
    }
    if (!async_id_valid (argv [2]) || !async_id_valid (argv [3])) {
        fprintf (stderr, "token_of: JOB and NODE must be ids\n");
        return 2;
    }
    //  Only trouble on stderr, next to what is printed
    async_log_set_level (ASYNC_LOG_WARNING);
    store_t *store;
    if (store_open (argv [1], false, &store)) {
        fprintf (stderr, "token_of: cannot open the store in %s\n", argv [1]);
        return 1;
    }
    char *epoch_value = NULL, *secret = NULL;
    size_t epoch_size = 0, secret_size = 0;
    int rc = 1;
    if (store_get (store, KEYS_META_EPOCH, &epoch_value, &epoch_size) || epoch_size != 8
        || store_get (store, KEYS_META_SECRET, &secret, &secret_size)
        || secret_size != TOKEN_SECRET_SIZE) {
        fprintf (stderr, "token_of: the store has no epoch or secret\n");
        goto done;
    }
    token_key_t key;
    token_key_load (&key, (const uint8_t *) secret);
    uint64_t epoch = store_get_be64 ((const uint8_t *) epoch_value);
    uint64_t token = token_make (&key, epoch, argv [2], argv [3], (int) attempt);
    printf ("%" PRIu64 " %" PRIu64 "\n", token,
            token_proof (&key, token, argv [2], argv [3], (int) attempt));
    rc = 0;
done:
    free (epoch_value);
    free (secret);
    store_destroy (&store);
    return rc;
}
