/*  =========================================================================
    keys - every key of the broker's store (keys.h)
    =========================================================================
*/
#include "keys.h"
#include "store.h"
#include <stdio.h>
#include <string.h>

size_t
keys_id (char *buf, char tag, const char *id)
{
    buf [0] = tag;
    memcpy (buf + 1, id, ASYNC_ID_CHARS);
    return KEYS_ID_SIZE;
}

bool
keys_id_parse (const char *key, size_t size, char *id)
{
    if (size != KEYS_ID_SIZE)
        return false;
    memcpy (id, key + 1, ASYNC_ID_CHARS);
    id [ASYNC_ID_CHARS] = 0;
    return true;
}

size_t
keys_binding (char *buf, const char *uuid)
{
    return keys_id (buf, KEYS_BINDING, uuid);
}

bool
keys_binding_parse (const char *value, size_t size, uint8_t *hash)
{
    if (size != KEYS_BINDING_HASH)
        return false;
    memcpy (hash, value, KEYS_BINDING_HASH);
    return true;
}

size_t
keys_time (char *buf, char tag, int64_t when, const char *id)
{
    buf [0] = tag;
    store_put_be64 ((uint8_t *) buf + 1, (uint64_t) when);
    memcpy (buf + 9, id, ASYNC_ID_CHARS);
    return KEYS_TIME_SIZE;
}

bool
keys_time_parse (const char *key, size_t size, int64_t *when, char *id)
{
    if (size != KEYS_TIME_SIZE)
        return false;
    *when = (int64_t) store_get_be64 ((const uint8_t *) key + 1);
    memcpy (id, key + 9, ASYNC_ID_CHARS);
    id [ASYNC_ID_CHARS] = 0;
    return true;
}

size_t
keys_name (char *buf, char tag, const char *name)
{
    size_t len = strnlen (name, ASYNC_MAX_NAME);
    buf [0] = tag;
    memcpy (buf + 1, name, len);
    return 1 + len;
}

size_t
keys_place (char *buf, const char *queue, int64_t priority, uint64_t seq)
{
    size_t qlen = strnlen (queue, ASYNC_MAX_NAME);
    buf [0] = KEYS_PENDING;
    memcpy (buf + 1, queue, qlen);
    buf [1 + qlen] = 0;
    //  Higher priority first: the sign-flipped priority, inverted
    uint64_t prio = ~((uint64_t) priority ^ (1ULL << 63));
    store_put_be64 ((uint8_t *) buf + 2 + qlen, prio);
    store_put_be64 ((uint8_t *) buf + 10 + qlen, seq);
    return 18 + qlen;
}

bool
keys_place_parse (const char *key, size_t ksize, const char *val, size_t vsize,
                  keys_place_t *place)
{
    const char *nul = ksize > 1 ? memchr (key + 1, 0, ksize - 1) : NULL;
    if (!nul || (size_t) (nul - key) + 17 != ksize || vsize <= ASYNC_ID_LEN
    ||  (size_t) (nul - key) - 1 > ASYNC_MAX_NAME)
        return false;
    snprintf (place->queue, sizeof place->queue, "%s", key + 1);
    uint64_t prio = store_get_be64 ((const uint8_t *) nul + 1);
    place->priority = (int64_t) (~prio ^ (1ULL << 63));
    place->seq = store_get_be64 ((const uint8_t *) nul + 9);
    memcpy (place->id, val, ASYNC_ID_CHARS);
    place->id [ASYNC_ID_CHARS] = 0;
    const char *quotas = memchr (val + ASYNC_ID_LEN, 0, vsize - ASYNC_ID_LEN);
    size_t tlen = quotas ? (size_t) (quotas - (val + ASYNC_ID_LEN)) : vsize - ASYNC_ID_LEN;
    snprintf (place->task, sizeof place->task, "%.*s", (int) tlen, val + ASYNC_ID_LEN);
    place->quotas [0] = 0;
    if (quotas)
        snprintf (place->quotas, sizeof place->quotas, "%.*s",
                  (int) (vsize - ASYNC_ID_LEN - 1 - tlen), quotas + 1);
    return true;
}

bool
keys_place_at (store_iter_t *iter, keys_place_t *place)
{
    size_t ksize, vsize;
    const char *key = store_iter_key (iter, &ksize);
    const char *value = store_iter_value (iter, &vsize);
    return keys_place_parse (key, ksize, value, vsize, place);
}

store_iter_t *
keys_place_iter (store_t *store, const char *queue, int64_t priority, uint64_t seq,
                 char *prefix, size_t *prefix_size)
{
    char key [KEYS_MAX];
    size_t size = keys_place (key, queue, priority, seq);
    *prefix_size = size - 16;
    memcpy (prefix, key, *prefix_size);
    store_iter_t *iter = store_iter_new (store, prefix, *prefix_size);
    store_iter_seek (iter, key, size);
    size_t ksize;
    if (store_iter_valid (iter)) {
        const char *at = store_iter_key (iter, &ksize);
        if (ksize == size && memcmp (at, key, size) == 0)
            store_iter_next (iter);
    }
    return iter;
}

size_t
keys_handoff (char *buf, const char *target, const char *waiting)
{
    buf [0] = KEYS_HANDOFF;
    memcpy (buf + 1, target, ASYNC_ID_CHARS);
    memcpy (buf + 1 + ASYNC_ID_CHARS, waiting, ASYNC_ID_CHARS);
    return KEYS_HANDOFF_SIZE;
}

bool
keys_handoff_parse (const char *key, size_t size, char *target, char *waiting)
{
    if (size != KEYS_HANDOFF_SIZE)
        return false;
    memcpy (target, key + 1, ASYNC_ID_CHARS);
    target [ASYNC_ID_CHARS] = 0;
    memcpy (waiting, key + 1 + ASYNC_ID_CHARS, ASYNC_ID_CHARS);
    waiting [ASYNC_ID_CHARS] = 0;
    return true;
}
