/*  client_again ENDPOINT KEY_FILE BROKER_PUBLIC ROUNDS - clients made one
    after another, as a program (or a Python session) makes them: each
    round a client with the allowed key asks for the status and is
    destroyed, then a client without a key asks and must be told that the
    broker requires CURVE, not that it cannot be reached. Stops at the
    first round that goes otherwise and says how: exit 1; 0 when none
    did, 2 on a usage error.
*/
#include "asyncmesh/client.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
main (int argc, char **argv)
{
    int rounds = argc == 5 ? atoi (argv [4]) : 0;
    if (rounds < 1 || rounds > 1000) {
        fprintf (stderr,
                 "usage: client_again ENDPOINT KEY_FILE BROKER_PUBLIC ROUNDS (1-1000)\n");
        return 2;
    }
    for (int round = 1; round <= rounds; round++) {
        char *status = NULL;
        async_client_t *keyed = async_client_new (argv [1]);
        if (!keyed || async_client_set_curve (keyed, argv [2], argv [3])) {
            fprintf (stderr, "client_again: cannot make a client with the key\n");
            return 2;
        }
        async_client_set_timeout (keyed, 10000);
        int rc = async_status_json (keyed, &status);
        free (status);
        status = NULL;
        if (rc) {
            printf ("round %d: the client with the key: %s\n", round,
                    async_client_error (keyed));
            return 1;
        }
        async_client_destroy (&keyed);

        async_client_t *plain = async_client_new (argv [1]);
        if (!plain)
            return 2;
        async_client_set_timeout (plain, 5000);
        rc = async_status_json (plain, &status);
        free (status);
        if (rc == 0 || !strstr (async_client_error (plain), "requires CURVE")) {
            printf ("round %d: the client without a key: %s\n", round,
                    rc ? async_client_error (plain) : "let in");
            return 1;
        }
        async_client_destroy (&plain);
    }
    return 0;
}
