/*  =========================================================================
    auth - CurveZMQ for the broker: ZAP handler, allowed keys and roles
    =========================================================================
*/
#include "auth.h"
#include "async_keys.h"
#include "async_proto.h"
#include "asyncmesh/error.h"
#include "asyncmesh/log.h"
#include "async_alloc.h"
#include <ctype.h>

#define S_ZAP_DOMAIN "asyncmesh"

struct _broker_auth_t {
    zactor_t *zauth;            //  czmq's ZAP handler
    zcert_t *cert;              //  the broker's key pair
    char *clients_dir;
    zhashx_t *roles;            //  Z85 public key -> s_key_t
};

//  What the broker knows of an allowed key
typedef struct {
    const char *role;           //  ASYNC_ROLE_NODE or _CLIENT (static)
    char *name;                 //  its certificate's file name
} s_key_t;

static void
s_key_destroy (s_key_t **self_p)
{
    if (*self_p) {
        free ((*self_p)->name);
        free (*self_p);
        *self_p = NULL;
    }
}

//  Read every certificate in the directory as zcertstore does, so that
//  the map holds what the ZAP handler lets in
static zhashx_t *
s_roles_load (const char *dir_path)
{
    zhashx_t *roles = zhashx_new ();
    zhashx_set_destructor (roles, (zhashx_destructor_fn *) s_key_destroy);
    zdir_t *dir = zdir_new (dir_path, NULL);
    zfile_t **files = dir ? zdir_flatten (dir) : NULL;
    for (size_t index = 0; files && files [index]; index++) {
        zfile_t *file = files [index];
        if (!zfile_is_regular (file))
            continue;
        zcert_t *cert = zcert_load (zfile_filename (file, NULL));
        if (cert) {
            s_key_t *key = (s_key_t *) async_xcalloc (1, sizeof (s_key_t));
            key->role = async_keys_role (cert);
            const char *path = zfile_filename (file, NULL);
            const char *slash = strrchr (path, '/');
            //  Logged as by=NAME: anything but a plain name's characters
            //  (a space, a quote, a newline) becomes '_', so that a file
            //  name cannot forge a field or a line of the log
            key->name = async_xstrdup (slash ? slash + 1 : path);
            for (char *c = key->name; *c; c++)
                if (!isalnum ((unsigned char) *c) && !strchr ("_-.@+", *c))
                    *c = '_';
            zhashx_update (roles, zcert_public_txt (cert), key);
        }
        zcert_destroy (&cert);
    }
    zdir_flatten_free (&files);
    zdir_destroy (&dir);
    return roles;
}

//  Point the ZAP handler at the directory and wait until it has read it
static void
s_zauth_load (broker_auth_t *self)
{
    zstr_sendx (self->zauth, "CURVE", self->clients_dir, NULL);
    zsock_wait (self->zauth);
}

int
broker_auth_new (const char *secret_file, const char *clients_dir, broker_auth_t **self_p)
{
    *self_p = NULL;
    broker_auth_t *self = (broker_auth_t *) async_xcalloc (1, sizeof (broker_auth_t));
    self->clients_dir = async_xstrdup (clients_dir);
    self->cert = zcert_load (secret_file);
    if (!self->cert) {
        async_log_error ("broker", "auth.failed", "curve_secret=%s error=\"cannot read "
                         "the key pair\"", secret_file);
        broker_auth_destroy (&self);
        return ASYNC_EIO;
    }
    self->zauth = zactor_new (zauth, NULL);
    if (!self->zauth) {
        async_log_error ("broker", "auth.failed", "error=\"cannot start the ZAP "
                         "handler\"");
        broker_auth_destroy (&self);
        return ASYNC_EIO;
    }
    if (async_log_enabled (ASYNC_LOG_TRACE)) {
        zstr_sendx (self->zauth, "VERBOSE", NULL);
        zsock_wait (self->zauth);
    }
    s_zauth_load (self);
    self->roles = s_roles_load (clients_dir);
    *self_p = self;
    return 0;
}

void
broker_auth_destroy (broker_auth_t **self_p)
{
    broker_auth_t *self = *self_p;
    if (!self)
        return;
    zactor_destroy (&self->zauth);
    zcert_destroy (&self->cert);
    zhashx_destroy (&self->roles);
    free (self->clients_dir);
    free (self);
    *self_p = NULL;
}

size_t
broker_auth_keys (broker_auth_t *self)
{
    return zhashx_size (self->roles);
}

void
broker_auth_apply (broker_auth_t *self, zsock_t *socket)
{
    zcert_apply (self->cert, socket);
    zsock_set_curve_server (socket, 1);
    zsock_set_zap_domain (socket, S_ZAP_DOMAIN);
}

void
broker_auth_reload (broker_auth_t *self)
{
    s_zauth_load (self);
    zhashx_destroy (&self->roles);
    self->roles = s_roles_load (self->clients_dir);
    async_log_info ("broker", "auth.reloaded", "keys=%zu clients=%s",
                    zhashx_size (self->roles), self->clients_dir);
}

bool
broker_auth_node_command (const char *command)
{
    const async_proto_t *row = async_proto_find (command, true);
    return row && row->sender == ASYNC_SENDER_NODE;
}

//  The allowed key that sent `body` (the ZAP handler let its connection
//  in with it: User-Id), or NULL
static s_key_t *
s_key_of (broker_auth_t *self, zframe_t *body)
{
    const char *id = zframe_meta (body, "User-Id");
    return id ? (s_key_t *) zhashx_lookup (self->roles, id) : NULL;
}

broker_auth_verdict_t
broker_auth_check (broker_auth_t *self, zframe_t *body, const char *command,
                   char *why, size_t why_size)
{
    s_key_t *key = s_key_of (self, body);
    const char *role = key ? key->role : NULL;
    if (!role) {
        snprintf (why, why_size, "this key is no longer allowed by the broker; "
                  "ask its operator to put its public key file in --curve-clients");
        return BROKER_AUTH_REVOKED;
    }
    if (broker_auth_node_command (command) && strcmp (role, ASYNC_ROLE_NODE)) {
        snprintf (why, why_size, "this key may not act as a node; give the node a "
                  "key made with 'asyncctl keygen --role node' and put its public "
                  "file in the broker's --curve-clients directory");
        return BROKER_AUTH_NOT_NODE;
    }
    const async_proto_t *row = async_proto_find (command, true);
    if (row && (row->flags & ASYNC_PROTO_CLIENT) && strcmp (role, ASYNC_ROLE_CLIENT)) {
        snprintf (why, why_size, "this key may not send %s: only a key of role client "
                  "may (a node's key may not)", command);
        return BROKER_AUTH_NOT_CLIENT;
    }
    return BROKER_AUTH_OK;
}

const char *
broker_auth_name (broker_auth_t *self, zframe_t *body)
{
    s_key_t *key = s_key_of (self, body);
    return key ? key->name : NULL;
}
