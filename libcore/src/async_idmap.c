/*  =========================================================================
    async_idmap - a hash map from job ids to pointers (see async_idmap.h)
    =========================================================================
*/
#include "async_idmap.h"
#include "async_alloc.h"
#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

//  Slots at the least; a map grows at half full and shrinks below an eighth
#define S_MIN_CAPACITY 64

typedef struct {
    void *value;                //  NULL: an empty slot
    char key [ASYNC_IDMAP_KEY_MAX + 1];
} s_slot_t;

struct _async_idmap_t {
    s_slot_t *slots;
    size_t capacity;            //  a power of two
    size_t size;
    size_t cursor;              //  slot of the last value first/next returned
    async_idmap_destructor_fn *destructor;
};

//  A 64-bit hash of the key: eight bytes at a time, multiplied and folded
static uint64_t
s_hash (const char *key, size_t len)
{
    uint64_t hash = 0x9e3779b97f4a7c15ULL ^ len;
    size_t at = 0;
    for (; at + 8 <= len; at += 8) {
        uint64_t word;
        memcpy (&word, key + at, 8);
        hash = (hash ^ word) * 0xff51afd7ed558ccdULL;
        hash ^= hash >> 32;
    }
    uint64_t tail = 0;
    memcpy (&tail, key + at, len - at);
    hash = (hash ^ tail) * 0xc4ceb9fe1a85ec53ULL;
    hash ^= hash >> 29;
    hash *= 0x94d049bb133111ebULL;
    return hash ^ (hash >> 32);
}

static s_slot_t *
s_slots_new (size_t capacity)
{
    s_slot_t *slots = (s_slot_t *) calloc (capacity, sizeof (s_slot_t));
    if (!slots)
        async_alloc_failed (capacity * sizeof (s_slot_t));
    return slots;
}

async_idmap_t *
async_idmap_new (void)
{
    async_idmap_t *self = (async_idmap_t *) calloc (1, sizeof (async_idmap_t));
    if (!self)
        async_alloc_failed (sizeof (async_idmap_t));
    if (self) {
        self->capacity = S_MIN_CAPACITY;
        self->slots = s_slots_new (self->capacity);
    }
    if (self && !self->slots) {
        free (self);
        self = NULL;
    }
    return self;
}

void
async_idmap_destroy (async_idmap_t **self_p)
{
    if (!*self_p)
        return;
    async_idmap_t *self = *self_p;
    for (size_t i = 0; i < self->capacity && self->destructor; i++)
        if (self->slots [i].value)
            self->destructor (&self->slots [i].value);
    free (self->slots);
    free (self);
    *self_p = NULL;
}

void
async_idmap_set_destructor (async_idmap_t *self, async_idmap_destructor_fn *destructor)
{
    self->destructor = destructor;
}

//  The slot holding key, or the empty slot where it would go
static size_t
s_find (async_idmap_t *self, const char *key, size_t len)
{
    size_t mask = self->capacity - 1;
    size_t at = (size_t) s_hash (key, len) & mask;
    while (self->slots [at].value && memcmp (self->slots [at].key, key, len + 1))
        at = (at + 1) & mask;
    return at;
}

//  Move every entry into a table of `capacity` slots: 0, or -1 (the table
//  as it was) when there is no memory for it
static int
s_resize (async_idmap_t *self, size_t capacity)
{
    s_slot_t *old = self->slots;
    size_t old_capacity = self->capacity;
    s_slot_t *slots = s_slots_new (capacity);
    if (!slots)
        return -1;
    self->slots = slots;
    self->capacity = capacity;
    for (size_t i = 0; i < old_capacity; i++)
        if (old [i].value) {
            size_t len = strlen (old [i].key);
            self->slots [s_find (self, old [i].key, len)] = old [i];
        }
    free (old);
    return 0;
}

void *
async_idmap_lookup (async_idmap_t *self, const char *key)
{
    size_t len = strnlen (key, ASYNC_IDMAP_KEY_MAX + 1);
    if (len > ASYNC_IDMAP_KEY_MAX)
        return NULL;
    return self->slots [s_find (self, key, len)].value;
}

int
async_idmap_insert (async_idmap_t *self, const char *key, void *value)
{
    assert (value);
    size_t len = strnlen (key, ASYNC_IDMAP_KEY_MAX + 1);
    if (len > ASYNC_IDMAP_KEY_MAX)
        return -1;
    if ((self->size + 1) * 2 > self->capacity
    &&  s_resize (self, self->capacity * 2))
        return -1;
    size_t at = s_find (self, key, len);
    if (self->slots [at].value)
        return -1;
    memset (self->slots [at].key, 0, sizeof self->slots [at].key);
    memcpy (self->slots [at].key, key, len);
    self->slots [at].value = value;
    self->size++;
    return 0;
}

void
async_idmap_delete (async_idmap_t *self, const char *key)
{
    size_t len = strnlen (key, ASYNC_IDMAP_KEY_MAX + 1);
    if (len > ASYNC_IDMAP_KEY_MAX)
        return;
    size_t hole = s_find (self, key, len);
    if (!self->slots [hole].value)
        return;
    if (self->destructor)
        self->destructor (&self->slots [hole].value);
    self->size--;
    //  Backward shift: move up each later entry of the run whose home slot
    //  is not between the hole and it, so that no lookup meets a gap
    size_t mask = self->capacity - 1;
    size_t at = hole;
    while (true) {
        at = (at + 1) & mask;
        if (!self->slots [at].value)
            break;
        const char *moved = self->slots [at].key;
        size_t home = (size_t) s_hash (moved, strlen (moved)) & mask;
        //  Stays when its home lies cyclically in (hole, at]
        bool stays = hole <= at ? (home > hole && home <= at)
                                : (home > hole || home <= at);
        if (!stays) {
            self->slots [hole] = self->slots [at];
            hole = at;
        }
    }
    self->slots [hole].value = NULL;
    if (self->capacity > S_MIN_CAPACITY && self->size * 8 < self->capacity)
        s_resize (self, self->capacity / 2);
}

size_t
async_idmap_size (async_idmap_t *self)
{
    return self->size;
}

size_t
async_idmap_capacity (async_idmap_t *self)
{
    return self->capacity;
}

//  The first value at or after slot `from`
static void *
s_scan (async_idmap_t *self, size_t from)
{
    for (self->cursor = from; self->cursor < self->capacity; self->cursor++)
        if (self->slots [self->cursor].value)
            return self->slots [self->cursor].value;
    return NULL;
}

void *
async_idmap_first (async_idmap_t *self)
{
    return s_scan (self, 0);
}

void *
async_idmap_next (async_idmap_t *self)
{
    return self->cursor < self->capacity ? s_scan (self, self->cursor + 1) : NULL;
}

const char *
async_idmap_cursor (async_idmap_t *self)
{
    return self->cursor < self->capacity && self->slots [self->cursor].value
         ? self->slots [self->cursor].key : NULL;
}
