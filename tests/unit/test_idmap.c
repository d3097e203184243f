/*  =========================================================================
    test_idmap - the hash map from job ids to pointers (async_idmap)
    =========================================================================
*/
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "async_idmap.h"
#include "async_util.h"

static int s_destroyed;

static void
s_count_destroy (void **value_p)
{
    s_destroyed++;
    *value_p = NULL;
}

static void
test_idmap_insert_lookup_delete (void **state)
{
    (void) state;
    async_idmap_t *map = async_idmap_new ();
    int a = 1, b = 2;
    const char *ida = "0193a1b2-0000-7000-8000-000000000001";
    const char *idb = "0193a1b2-0000-7000-8000-000000000002";
    assert_null (async_idmap_lookup (map, ida));
    assert_int_equal (async_idmap_insert (map, ida, &a), 0);
    assert_int_equal (async_idmap_insert (map, idb, &b), 0);
    assert_int_equal (async_idmap_insert (map, ida, &b), -1);     //  there already
    assert_ptr_equal (async_idmap_lookup (map, ida), &a);
    assert_ptr_equal (async_idmap_lookup (map, idb), &b);
    assert_int_equal (async_idmap_size (map), 2);
    async_idmap_delete (map, ida);
    async_idmap_delete (map, ida);                                //  absent: nothing
    assert_null (async_idmap_lookup (map, ida));
    assert_ptr_equal (async_idmap_lookup (map, idb), &b);
    assert_int_equal (async_idmap_size (map), 1);
    //  Keys are copied: the caller's buffer may change
    char key [40] = "short";
    assert_int_equal (async_idmap_insert (map, key, &a), 0);
    strcpy (key, "other");
    assert_null (async_idmap_lookup (map, key));
    assert_ptr_equal (async_idmap_lookup (map, "short"), &a);
    //  A prefix of a key is another key
    assert_null (async_idmap_lookup (map, "shor"));
    assert_null (async_idmap_lookup (map, "short1"));
    async_idmap_destroy (&map);
    assert_null (map);
}

static void
test_idmap_long_key_refused (void **state)
{
    (void) state;
    async_idmap_t *map = async_idmap_new ();
    int a = 1;
    char key [ASYNC_IDMAP_KEY_MAX + 2];
    memset (key, 'x', sizeof key - 1);
    key [sizeof key - 1] = 0;
    assert_int_equal (async_idmap_insert (map, key, &a), -1);
    assert_null (async_idmap_lookup (map, key));
    assert_int_equal (async_idmap_size (map), 0);
    key [ASYNC_IDMAP_KEY_MAX] = 0;          //  exactly the longest
    assert_int_equal (async_idmap_insert (map, key, &a), 0);
    assert_ptr_equal (async_idmap_lookup (map, key), &a);
    async_idmap_destroy (&map);
}

//  Random inserts and deletes over a pool of time-ordered ids, checked
//  after each step against a plain array: deletes move entries back
//  (backward shift) and the table grows and shrinks meanwhile
#define S_POOL 3000

static void
test_idmap_matches_a_model (void **state)
{
    (void) state;
    static char ids [S_POOL][40];
    static int present [S_POOL];
    for (int i = 0; i < S_POOL; i++)
        async_id_new_ordered (ids [i]);
    memset (present, 0, sizeof present);
    async_idmap_t *map = async_idmap_new ();
    size_t size = 0;
    srand (42);
    for (int step = 0; step < 200000; step++) {
        int i = rand () % S_POOL;
        //  Phases: mostly inserts, then mostly deletes, so it grows and shrinks
        bool insert = (step / 20000) % 2 == 0 ? rand () % 4 != 0 : rand () % 4 == 0;
        if (insert) {
            int rc = async_idmap_insert (map, ids [i], &present [i]);
            assert_int_equal (rc, present [i] ? -1 : 0);
            if (!present [i])
                size++;
            present [i] = 1;
        }
        else {
            async_idmap_delete (map, ids [i]);
            if (present [i])
                size--;
            present [i] = 0;
        }
        assert_int_equal (async_idmap_size (map), size);
        if (step % 97 == 0)
            for (int j = 0; j < S_POOL; j++)
                if ((async_idmap_lookup (map, ids [j]) != NULL) != (present [j] != 0))
                    fail_msg ("step %d: id %d is %s the map", step, j,
                              present [j] ? "missing from" : "wrongly in");
    }
    async_idmap_destroy (&map);
}

//  Memory follows the size: it grows at half full, shrinks below an eighth
static void
test_idmap_grows_and_shrinks (void **state)
{
    (void) state;
    async_idmap_t *map = async_idmap_new ();
    static char ids [100000][40];
    int value = 1;
    for (int i = 0; i < 100000; i++) {
        async_id_new_ordered (ids [i]);
        assert_int_equal (async_idmap_insert (map, ids [i], &value), 0);
    }
    assert_true (async_idmap_capacity (map) >= 2 * 100000);
    assert_true (async_idmap_capacity (map) <= 4 * 100000);
    for (int i = 0; i < 100000 - 10; i++)
        async_idmap_delete (map, ids [i]);
    assert_int_equal (async_idmap_size (map), 10);
    assert_true (async_idmap_capacity (map) <= 128);
    for (int i = 100000 - 10; i < 100000; i++)
        assert_ptr_equal (async_idmap_lookup (map, ids [i]), &value);
    //  A million lookups of missing keys change nothing
    size_t capacity = async_idmap_capacity (map);
    for (int i = 0; i < 1000000; i++)
        assert_null (async_idmap_lookup (map, ids [i % (100000 - 10)]));
    assert_int_equal (async_idmap_capacity (map), capacity);
    async_idmap_destroy (&map);
}

static void
test_idmap_iterates_each_once (void **state)
{
    (void) state;
    async_idmap_t *map = async_idmap_new ();
    static char ids [1000][40];
    static int seen [1000];
    for (int i = 0; i < 1000; i++) {
        snprintf (ids [i], sizeof ids [i], "key-%d", i);
        assert_int_equal (async_idmap_insert (map, ids [i], &seen [i]), 0);
    }
    size_t count = 0;
    for (int *value = (int *) async_idmap_first (map); value;
         value = (int *) async_idmap_next (map)) {
        int i = (int) (value - seen);
        assert_string_equal (async_idmap_cursor (map), ids [i]);
        seen [i]++;
        count++;
    }
    assert_int_equal (count, 1000);
    for (int i = 0; i < 1000; i++)
        assert_int_equal (seen [i], 1);
    assert_null (async_idmap_next (map));
    async_idmap_destroy (&map);
    //  An empty map
    map = async_idmap_new ();
    assert_null (async_idmap_first (map));
    assert_null (async_idmap_cursor (map));
    async_idmap_destroy (&map);
}

static void
test_idmap_destructor (void **state)
{
    (void) state;
    async_idmap_t *map = async_idmap_new ();
    async_idmap_set_destructor (map, s_count_destroy);
    int values [10];
    char key [16];
    for (int i = 0; i < 10; i++) {
        snprintf (key, sizeof key, "k%d", i);
        async_idmap_insert (map, key, &values [i]);
    }
    s_destroyed = 0;
    async_idmap_delete (map, "k3");
    async_idmap_delete (map, "nope");
    assert_int_equal (s_destroyed, 1);
    async_idmap_destroy (&map);
    assert_int_equal (s_destroyed, 10);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_idmap_insert_lookup_delete),
        cmocka_unit_test (test_idmap_long_key_refused),
        cmocka_unit_test (test_idmap_matches_a_model),
        cmocka_unit_test (test_idmap_grows_and_shrinks),
        cmocka_unit_test (test_idmap_iterates_each_once),
        cmocka_unit_test (test_idmap_destructor),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
