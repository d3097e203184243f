/*  =========================================================================
    http - the broker's HTTP server: /metrics, /api/..., the dashboard

    libmicrohttpd in its external epoll mode: no thread of its own. The
    broker polls http_fd () with its ROUTER socket, for at most
    http_timeout_ms (), and calls http_run () when it is readable or the
    timeout passed; handlers then read the broker's state through
    broker_view.h, between two turns of its loop.
    =========================================================================
*/
#ifndef BROKER_HTTP_H_INCLUDED
#define BROKER_HTTP_H_INCLUDED

#include "broker.h"
#include <stdbool.h>
#include <stddef.h>

typedef struct _http_t http_t;

//  A file of the dashboard (broker/web/), compiled in by CMake
typedef struct {
    const char *path;           //  "/app.js"
    const char *type;           //  Content-Type
    const unsigned char *data;
    size_t size;
} http_asset_t;

//  The dashboard's files, ending with a NULL path (web_assets.c).
extern const http_asset_t http_assets [];

//  Check an ADDR:PORT ("127.0.0.1:9998", "[::1]:9998", "0.0.0.0:9998",
//  "localhost:9998"). 0 and *loopback (whether every address it names is a
//  loopback address), or -1 when it is malformed or does not resolve.
int
    http_address_check (const char *address, bool *loopback);

//  The longest label of a token
#define HTTP_LABEL_MAX 64

//  The line of a --http-token file: "TOKEN", or "LABEL:TOKEN" when what
//  comes before the first ':' is a label (1..HTTP_LABEL_MAX letters,
//  digits and _-.). Returns the token (within line); the label, or
//  "http", goes into label (HTTP_LABEL_MAX + 1 bytes).
const char *
    http_token_parse (const char *line, char *label);

//  Start serving on `address` (ADDR:PORT) for `broker`. With a `token`
//  (a --http-token line, http_token_parse), every request but the
//  dashboard's static files needs "Authorization: Bearer TOKEN" (the
//  page itself also takes ?token=TOKEN); the actions (POST) need it, and
//  are refused without a token. 0, or an error code (logged).
int
    http_new (broker_t *broker, const char *address, const char *token, http_t **self_p);

//  Stop serving and set *self_p to NULL.
void
    http_destroy (http_t **self_p);

//  The epoll fd to poll for input.
int
    http_fd (http_t *self);

//  How long the server may wait without http_run (): milliseconds, or -1
//  for no limit.
int
    http_timeout_ms (http_t *self);

//  Serve what is ready, without blocking.
void
    http_run (http_t *self);

#endif
