//  test_gathers - the summaries of parents' children (broker/gathers.c)
#include "gathers.h"
#include "async_codec.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#define PARENT_A "00000000-0000-4000-8000-0000000000a0"
#define PARENT_B "00000000-0000-4000-8000-0000000000b0"

//  Packs the string `arg` and counts the calls in s_packed
static int s_packed;

static void
s_pack_text (msgpack_packer *pk, void *arg)
{
    s_packed++;
    async_codec_pack_str (pk, (const char *) arg);
}

//  The packed size of the string `text`: a fixstr's header and its bytes
static size_t
s_size (const char *text)
{
    return 1 + strlen (text);
}

//  A child's summary is kept at its index, once: a second add of that
//  child packs nothing; the others stay empty
static void
test_gathers_keep_each_child_once_by_index (void **state)
{
    (void) state;
    s_packed = 0;
    gathers_t *gathers = gathers_new (1000);
    assert_null (gathers_summaries (gathers, PARENT_A, 3));
    gathers_add (gathers, PARENT_A, 3, 2, s_pack_text, "two");
    gathers_add (gathers, PARENT_A, 3, 0, s_pack_text, "zero");
    gathers_add (gathers, PARENT_A, 3, 2, s_pack_text, "again");
    assert_int_equal (s_packed, 2);
    assert_int_equal (gathers_bytes (gathers), s_size ("two") + s_size ("zero"));

    const async_blob_t *summaries = gathers_summaries (gathers, PARENT_A, 3);
    assert_non_null (summaries);
    assert_int_equal (summaries [0].size, s_size ("zero"));
    assert_memory_equal (summaries [0].data + 1, "zero", 4);
    assert_int_equal (summaries [1].size, 0);
    assert_int_equal (summaries [2].size, s_size ("two"));
    assert_memory_equal (summaries [2].data + 1, "two", 3);
    assert_null (gathers_summaries (gathers, PARENT_B, 3));
    gathers_destroy (&gathers);
    assert_null (gathers);
    gathers_destroy (&gathers);  //  safe again
}

//  Summaries made for one count of children are not those of another
//  count, nor added to; an index out of range is not kept
static void
test_gathers_ignore_another_count_and_bad_index (void **state)
{
    (void) state;
    s_packed = 0;
    gathers_t *gathers = gathers_new (1000);
    gathers_add (gathers, PARENT_A, 2, 0, s_pack_text, "zero");
    gathers_add (gathers, PARENT_A, 3, 1, s_pack_text, "one");
    gathers_add (gathers, PARENT_A, 2, 2, s_pack_text, "out");
    assert_int_equal (s_packed, 1);
    assert_null (gathers_summaries (gathers, PARENT_A, 3));
    const async_blob_t *summaries = gathers_summaries (gathers, PARENT_A, 2);
    assert_non_null (summaries);
    assert_int_equal (summaries [1].size, 0);
    gathers_destroy (&gathers);
}

//  Past the budget nothing more is kept, for any parent; dropping a
//  parent gives its bytes back, and then summaries are kept again
static void
test_gathers_stop_at_the_budget_until_a_drop (void **state)
{
    (void) state;
    s_packed = 0;
    gathers_t *gathers = gathers_new (2 * s_size ("abcd"));
    gathers_add (gathers, PARENT_A, 4, 0, s_pack_text, "abcd");
    gathers_add (gathers, PARENT_A, 4, 1, s_pack_text, "abcd");
    assert_int_equal (gathers_bytes (gathers), 2 * s_size ("abcd"));
    gathers_add (gathers, PARENT_A, 4, 2, s_pack_text, "abcd");
    gathers_add (gathers, PARENT_B, 4, 0, s_pack_text, "abcd");
    assert_int_equal (s_packed, 2);
    assert_null (gathers_summaries (gathers, PARENT_B, 4));
    assert_int_equal (gathers_summaries (gathers, PARENT_A, 4) [2].size, 0);

    gathers_drop (gathers, PARENT_A);
    assert_int_equal (gathers_bytes (gathers), 0);
    assert_null (gathers_summaries (gathers, PARENT_A, 4));
    gathers_drop (gathers, PARENT_A);  //  none: nothing
    gathers_add (gathers, PARENT_B, 4, 0, s_pack_text, "abcd");
    assert_int_equal (s_packed, 3);
    assert_non_null (gathers_summaries (gathers, PARENT_B, 4));
    assert_int_equal (gathers_bytes (gathers), s_size ("abcd"));
    gathers_destroy (&gathers);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_gathers_keep_each_child_once_by_index),
        cmocka_unit_test (test_gathers_ignore_another_count_and_bad_index),
        cmocka_unit_test (test_gathers_stop_at_the_budget_until_a_drop),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
