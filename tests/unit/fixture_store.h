/*  =========================================================================
    fixture_store - a store in a temp dir of its own, per test (fixture.h)

        fixture_store_t store;
        if (fixture_store_open (&store, "history"))
            return -1;                      //  in the setup
        ...
        return fixture_store_close (&store);        //  in the teardown
    =========================================================================
*/
#ifndef ASYNC_TEST_FIXTURE_STORE_H_INCLUDED
#define ASYNC_TEST_FIXTURE_STORE_H_INCLUDED

#include "fixture.h"
#include "store.h"

typedef struct {
    char dir [FIXTURE_DIR_MAX];       //  the temp dir
    char path [FIXTURE_DIR_MAX + 8];  //  the store inside it
    store_t *store;
} fixture_store_t;

//  Make the temp dir and open a store (synced) in it: 0, or -1 with
//  nothing left behind
static inline int
fixture_store_open (fixture_store_t *self, const char *name)
{
    if (fixture_dir_make (self->dir, sizeof self->dir, name))
        return -1;
    snprintf (self->path, sizeof self->path, "%s/db", self->dir);
    if (store_open (self->path, true, &self->store) != 0) {
        fixture_dir_remove (self->dir);
        return -1;
    }
    return 0;
}

//  Close the store and remove the temp dir: 0, or -1
static inline int
fixture_store_close (fixture_store_t *self)
{
    store_destroy (&self->store);
    return fixture_dir_remove (self->dir);
}

#endif
