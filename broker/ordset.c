/*  =========================================================================
    ordset - an ordered set of short strings (a skip list)
    =========================================================================
*/
#include "ordset.h"
#include "async_alloc.h"
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

//  Levels: a quarter of the nodes of one level go up to the next, so 16
//  levels order 4^16 (4 billion) keys in about log4 (n) steps per level
#define S_LEVELS    16

typedef struct _s_node_t s_node_t;
struct _s_node_t {
    char *key;                  //  held after the links, in the same block
    s_node_t *next [];          //  one link per level of the node
};

struct _ordset_t {
    s_node_t *head;             //  no key: S_LEVELS links to the first nodes
    int levels;                 //  levels in use (1..S_LEVELS)
    size_t size;
    uint64_t random;            //  xorshift state, for the levels of new nodes
    s_node_t *cursor;           //  the walk's last key, or NULL
};

static s_node_t *
s_node_new (const char *key, int levels)
{
    size_t size = strlen (key) + 1;
    s_node_t *node = (s_node_t *) async_xmalloc (sizeof (s_node_t)
                                          + levels * sizeof (s_node_t *) + size);
    assert (node);
    node->key = (char *) (node->next + levels);
    memcpy (node->key, key, size);
    for (int level = 0; level < levels; level++)
        node->next [level] = NULL;
    return node;
}

//  A new node's levels: 1, then one more with a chance of 1 in 4
static int
s_random_levels (ordset_t *self)
{
    self->random ^= self->random << 13;
    self->random ^= self->random >> 7;
    self->random ^= self->random << 17;
    uint64_t bits = self->random;
    int levels = 1;
    while (levels < S_LEVELS && (bits & 3) == 0) {
        levels++;
        bits >>= 2;
    }
    return levels;
}

//  The last node before `key` at each level, into path [S_LEVELS]; returns
//  the node at level 0 after it (the first node >= key), or NULL
static s_node_t *
s_find (ordset_t *self, const char *key, s_node_t **path)
{
    s_node_t *node = self->head;
    for (int level = self->levels - 1; level >= 0; level--) {
        while (node->next [level] && strcmp (node->next [level]->key, key) < 0)
            node = node->next [level];
        if (path)
            path [level] = node;
    }
    return node->next [0];
}

ordset_t *
ordset_new (void)
{
    ordset_t *self = (ordset_t *) async_xcalloc (1, sizeof (ordset_t));
    assert (self);
    self->head = (s_node_t *) async_xcalloc (1, sizeof (s_node_t) + S_LEVELS * sizeof (s_node_t *));
    assert (self->head);
    self->levels = 1;
    self->random = 0x9E3779B97F4A7C15ULL;
    return self;
}

void
ordset_destroy (ordset_t **self_p)
{
    assert (self_p);
    ordset_t *self = *self_p;
    if (!self)
        return;
    s_node_t *node = self->head->next [0];
    while (node) {
        s_node_t *next = node->next [0];
        free (node);
        node = next;
    }
    free (self->head);
    free (self);
    *self_p = NULL;
}

size_t
ordset_size (ordset_t *self)
{
    assert (self);
    return self->size;
}

bool
ordset_contains (ordset_t *self, const char *key)
{
    assert (self && key);
    s_node_t *node = s_find (self, key, NULL);
    return node && strcmp (node->key, key) == 0;
}

bool
ordset_insert (ordset_t *self, const char *key)
{
    assert (self && key);
    s_node_t *path [S_LEVELS];
    s_node_t *found = s_find (self, key, path);
    if (found && strcmp (found->key, key) == 0)
        return false;
    int levels = s_random_levels (self);
    for (int level = self->levels; level < levels; level++)
        path [level] = self->head;
    if (levels > self->levels)
        self->levels = levels;
    s_node_t *node = s_node_new (key, levels);
    for (int level = 0; level < levels; level++) {
        node->next [level] = path [level]->next [level];
        path [level]->next [level] = node;
    }
    self->size++;
    self->cursor = NULL;
    return true;
}

bool
ordset_delete (ordset_t *self, const char *key)
{
    assert (self && key);
    s_node_t *path [S_LEVELS];
    s_node_t *node = s_find (self, key, path);
    if (!node || strcmp (node->key, key) != 0)
        return false;
    for (int level = 0; level < self->levels && path [level]->next [level] == node;
         level++)
        path [level]->next [level] = node->next [level];
    while (self->levels > 1 && !self->head->next [self->levels - 1])
        self->levels--;
    free (node);
    self->size--;
    self->cursor = NULL;
    return true;
}

const char *
ordset_seek_after (ordset_t *self, const char *key)
{
    assert (self);
    s_node_t *node = self->head->next [0];
    if (key) {
        node = s_find (self, key, NULL);
        if (node && strcmp (node->key, key) == 0)
            node = node->next [0];
    }
    self->cursor = node;
    return node ? node->key : NULL;
}

const char *
ordset_next (ordset_t *self)
{
    assert (self);
    if (self->cursor)
        self->cursor = self->cursor->next [0];
    return self->cursor ? self->cursor->key : NULL;
}
