/*  =========================================================================
    async_keys - CURVE key files of the programs
    =========================================================================
*/
#include "async_keys.h"
#include "asyncmesh/error.h"
#include <sys/stat.h>

#define S_KEYGEN_HINT "write one with 'asyncctl keygen FILE'"

//  The file must be a readable regular file. 0 or ASYNC_EUSAGE
static int
s_stat (const char *prog, const char *flag, const char *path, struct stat *st)
{
    if (stat (path, st)) {
        fprintf (stderr, "%s: %s '%s': %s; give the path of a key file (%s)\n",
                 prog, flag, path, strerror (errno), S_KEYGEN_HINT);
        return ASYNC_EUSAGE;
    }
    if (!S_ISREG (st->st_mode)) {
        fprintf (stderr, "%s: %s '%s' is not a file; give the path of a key file "
                 "(%s)\n", prog, flag, path, S_KEYGEN_HINT);
        return ASYNC_EUSAGE;
    }
    return 0;
}

static bool
s_key_is_zero (const char *z85)
{
    //  zcert reads a missing key as 32 zero bytes: Z85 "0000..."
    return !z85 || strspn (z85, "0") == strlen (z85);
}

int
async_keys_load_secret (const char *prog, const char *flag, const char *path,
                        zcert_t **cert_p)
{
    *cert_p = NULL;
    struct stat st;
    if (s_stat (prog, flag, path, &st))
        return ASYNC_EUSAGE;
    //  zcert_load (path) prefers path_secret: read this very file first
    zconfig_t *root = zconfig_load (path);
    bool public_key = root && zconfig_get (root, "curve/public-key", NULL);
    bool secret = root && !s_key_is_zero (zconfig_get (root, "curve/secret-key", NULL));
    zconfig_destroy (&root);
    if (!public_key) {
        fprintf (stderr, "%s: %s '%s' is not a CURVE certificate; %s\n",
                 prog, flag, path, S_KEYGEN_HINT);
        return ASYNC_EUSAGE;
    }
    if (!secret) {
        fprintf (stderr, "%s: %s '%s' is a public certificate; give its _secret "
                 "file ('%s_secret')\n", prog, flag, path, path);
        return ASYNC_EUSAGE;
    }
    if (st.st_mode & 077) {
        fprintf (stderr, "%s: %s '%s' holds a secret key but others may read it "
                 "(mode %04o); run chmod 600 '%s'\n", prog, flag, path,
                 (unsigned) (st.st_mode & 07777), path);
        return ASYNC_EUSAGE;
    }
    zcert_t *cert = zcert_load (path);
    if (!cert) {
        fprintf (stderr, "%s: %s '%s' is not a CURVE certificate; %s\n",
                 prog, flag, path, S_KEYGEN_HINT);
        return ASYNC_EUSAGE;
    }
    *cert_p = cert;
    return 0;
}

int
async_keys_load_public (const char *prog, const char *flag, const char *path,
                        zcert_t **cert_p)
{
    *cert_p = NULL;
    struct stat st;
    if (s_stat (prog, flag, path, &st))
        return ASYNC_EUSAGE;
    zcert_t *cert = zcert_load (path);
    if (!cert || s_key_is_zero (zcert_public_txt (cert))) {
        fprintf (stderr, "%s: %s '%s' is not a CURVE certificate; give the public "
                 "file that 'asyncctl keygen' wrote\n", prog, flag, path);
        zcert_destroy (&cert);
        return ASYNC_EUSAGE;
    }
    *cert_p = cert;
    return 0;
}

const char *
async_keys_role (zcert_t *cert)
{
    const char *role = cert ? zcert_meta (cert, "role") : NULL;
    return role && streq (role, ASYNC_ROLE_NODE) ? ASYNC_ROLE_NODE : ASYNC_ROLE_CLIENT;
}

int
async_keys_check_pair (const char *prog, const char *flag_a, const char *a,
                       const char *flag_b, const char *b, const char *hint)
{
    bool has_a = a && *a, has_b = b && *b;
    if (has_a == has_b)
        return 0;
    fprintf (stderr, "%s: %s needs %s too; %s\n", prog, has_a ? flag_a : flag_b,
             has_a ? flag_b : flag_a, hint);
    return ASYNC_EUSAGE;
}

int
async_keys_handshake_event (zsock_t *monitor, uint32_t *value)
{
    zmsg_t *event = zmsg_recv (monitor);
    zframe_t *frame = event ? zmsg_first (event) : NULL;
    uint16_t number = 0;
    *value = 0;
    if (frame && zframe_size (frame) >= 6) {
        memcpy (&number, zframe_data (frame), 2);
        memcpy (value, zframe_data (frame) + 2, 4);
    }
    zmsg_destroy (&event);
    return number;
}

void
async_keys_refusal (int event, uint32_t value, bool curve, const char *endpoint,
                    char *buf, size_t size)
{
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
        snprintf (buf, size, "the broker at %s refused our CURVE key (not in its "
                  "allowed keys); put our public key file in its --curve-clients "
                  "directory and send it SIGHUP", endpoint);
    else
    if (!curve)
        snprintf (buf, size, "the broker at %s requires CURVE; pass --curve-key and "
                  "--broker-public-key (or set ASYNC_CURVE_KEY and "
                  "ASYNC_BROKER_PUBLIC_KEY)", endpoint);
    else
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
        snprintf (buf, size, "the broker at %s does not speak CURVE (protocol error "
                  "0x%x); drop --curve-key and --broker-public-key, or check --broker",
                  endpoint, value);
    else
        snprintf (buf, size, "the CURVE handshake with the broker at %s failed; check "
                  "that --broker-public-key is this broker's public key file", endpoint);
}
