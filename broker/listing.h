/*  =========================================================================
    listing - the broker's listings: the LIST, COUNT, STATUS and NODES
    handlers, and the jobs and status of the HTTP view (broker_view.h)

    The walk over the jobs is query_t's (query.h), which reads the broker
    through a query_source_t: this part of the broker makes that source
    over broker_t (the job cache, the scheduled jobs and backoffs, the
    per-queue counts) and the query at the first listing, and holds each
    listing to the bounds of its page and of the loop turn
    (docs/protocol.md, Limits). It owns nothing: the query it makes is
    broker_t's (`query`), destroyed with the broker.
    =========================================================================
*/
#ifndef BROKER_LISTING_H_INCLUDED
#define BROKER_LISTING_H_INCLUDED

#include "handler.h"
#include "broker_impl.h"
#include "async_codec.h"
#include <jansson.h>

//  The JOBS (or COUNT) reply to a LIST (COUNT) `query`, read through the
//  bounds of a page of at most `page` jobs and `bytes` of records, and
//  those of this loop turn (broker_t's list_turn_us, which it charges).
//  With `json`, each job listed is appended to it as job JSON too (the
//  HTTP view). 0, -1 for a bad filter (`err` says why), -2 for a bad
//  cursor.
int
    listing_jobs (broker_t *self, const msgpack_object *query, uint64_t rid,
                  bool count_only, int64_t page, size_t bytes, json_t *json,
                  async_msg_t *reply, char *err, size_t err_size);

//  Answer a LIST (or COUNT) from the request's peer: JOBS (COUNT), or
//  ERROR 6 for a bad filter or cursor.
void
    listing_on_list (broker_t *self, broker_request_t *req);

//  The STATUS reply, bounded: at most QUERY_STATUS_QUEUES queues and
//  1000 nodes (about 4 MiB of them), the rest counted.
void
    listing_status (broker_t *self, uint64_t rid, async_msg_t *reply);

//  HISTORY: the jobs completed in the last hour, day or week (history.h)
void
    listing_on_history (broker_t *self, broker_request_t *req);

//  Answer a STATUS from the request's peer.
void
    listing_on_status (broker_t *self, broker_request_t *req);

//  Answer a NODES from the request's peer: the nodes, alive then dead,
//  within the bounds of STATUS's.
void
    listing_on_nodes (broker_t *self, broker_request_t *req);

#endif
