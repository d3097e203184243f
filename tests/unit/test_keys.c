//  test_keys - the store's keys (broker/keys.c): made and read back, and
//  sorted as their fields
#include "keys.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#define S_ID    "0190a5c2-7d3e-7c41-9a6b-2f5e8d1c3b4a"
#define S_OTHER "6b4f2a3c-9d5e-4f70-8b1c-2d3e4f5a6b7c"

static int
s_compare (const char *a, size_t asize, const char *b, size_t bsize)
{
    int rc = memcmp (a, b, asize < bsize ? asize : bsize);
    return rc ? rc : (asize > bsize) - (asize < bsize);
}

static void
test_keys_id_and_time_read_back (void **state)
{
    (void) state;
    char key [KEYS_MAX], id [37];
    assert_int_equal (keys_id (key, KEYS_JOB, S_ID), KEYS_ID_SIZE);
    assert_int_equal (key [0], 'j');
    assert_true (keys_id_parse (key, KEYS_ID_SIZE, id));
    assert_string_equal (id, S_ID);
    assert_false (keys_id_parse (key, KEYS_ID_SIZE - 1, id));
    int64_t when;
    assert_int_equal (keys_time (key, KEYS_COMPLETED, 1796631545405925LL, S_ID),
                      KEYS_TIME_SIZE);
    assert_true (keys_time_parse (key, KEYS_TIME_SIZE, &when, id));
    assert_true (when == 1796631545405925LL);
    assert_string_equal (id, S_ID);
    assert_false (keys_time_parse (key, KEYS_TIME_SIZE + 1, &when, id));
    char target [37], waiting [37];
    assert_int_equal (keys_handoff (key, S_ID, S_OTHER), KEYS_HANDOFF_SIZE);
    assert_true (keys_handoff_parse (key, KEYS_HANDOFF_SIZE, target, waiting));
    assert_string_equal (target, S_ID);
    assert_string_equal (waiting, S_OTHER);
}

//  Time keys sort by time; place keys by priority (higher first), then
//  by sequence
static void
test_keys_sort_as_their_fields (void **state)
{
    (void) state;
    char a [KEYS_MAX], b [KEYS_MAX];
    size_t as = keys_time (a, KEYS_SCHEDULED, 255, S_OTHER);
    size_t bs = keys_time (b, KEYS_SCHEDULED, 256, S_ID);
    assert_true (s_compare (a, as, b, bs) < 0);
    const int64_t priorities [] = { 1000000000, 5, 1, 0, -1, -1000000000 };
    for (size_t i = 0; i + 1 < sizeof priorities / sizeof priorities [0]; i++) {
        as = keys_place (a, "default", priorities [i], 99);
        bs = keys_place (b, "default", priorities [i + 1], 1);
        assert_true (s_compare (a, as, b, bs) < 0);
    }
    as = keys_place (a, "default", 3, 1);
    bs = keys_place (b, "default", 3, 2);
    assert_true (s_compare (a, as, b, bs) < 0);
}

static void
test_keys_place_reads_back_with_its_value (void **state)
{
    (void) state;
    char key [KEYS_MAX];
    size_t size = keys_place (key, "q:1", -7, 42);
    char value [128];
    memcpy (value, S_ID, 36);
    value [36] = 0;
    memcpy (value + 37, "pi.sample\0a,b", 13);
    keys_place_t place;
    assert_true (keys_place_parse (key, size, value, 50, &place));
    assert_string_equal (place.queue, "q:1");
    assert_string_equal (place.id, S_ID);
    assert_string_equal (place.task, "pi.sample");
    assert_string_equal (place.quotas, "a,b");
    assert_true (place.priority == -7);
    assert_true (place.seq == 42);
    assert_false (keys_place_parse (key, size - 1, value, 50, &place));
    assert_false (keys_place_parse (key, size, value, 37, &place));
}

//  A name key is cut at ASYNC_MAX_NAME, never past the buffer
static void
test_keys_name_is_bounded (void **state)
{
    (void) state;
    char name [ASYNC_MAX_NAME + 50];
    memset (name, 'x', sizeof name - 1);
    name [sizeof name - 1] = 0;
    char key [KEYS_MAX];
    assert_int_equal (keys_name (key, KEYS_QUOTA, name), 1 + ASYNC_MAX_NAME);
    assert_int_equal (keys_name (key, KEYS_IDEMPOTENT, "k1"), 3);
    assert_memory_equal (key, "kk1", 3);
}

//  A uuid's binding: b<uuid>, and a value of exactly KEYS_BINDING_HASH bytes
static void
test_keys_binding_reads_back (void **state)
{
    (void) state;
    char key [KEYS_MAX], id [ASYNC_ID_LEN];
    size_t size = keys_binding (key, "5a3e1f2b-8c4d-4e6f-9a0b-1c2d3e4f5a6b");
    assert_int_equal (size, KEYS_ID_SIZE);
    assert_int_equal (key [0], KEYS_BINDING);
    assert_true (keys_id_parse (key, size, id));
    assert_string_equal (id, "5a3e1f2b-8c4d-4e6f-9a0b-1c2d3e4f5a6b");
    char value [KEYS_BINDING_HASH + 1];
    for (size_t i = 0; i < sizeof value; i++)
        value [i] = (char) i;
    uint8_t hash [KEYS_BINDING_HASH];
    assert_true (keys_binding_parse (value, KEYS_BINDING_HASH, hash));
    assert_memory_equal (hash, value, KEYS_BINDING_HASH);
    assert_false (keys_binding_parse (value, KEYS_BINDING_HASH - 1, hash));
    assert_false (keys_binding_parse (value, KEYS_BINDING_HASH + 1, hash));
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_keys_id_and_time_read_back),
        cmocka_unit_test (test_keys_sort_as_their_fields),
        cmocka_unit_test (test_keys_place_reads_back_with_its_value),
        cmocka_unit_test (test_keys_name_is_bounded),
        cmocka_unit_test (test_keys_binding_reads_back),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
