//  test_quota - cluster quotas (broker/quota.c)
#include "quota.h"
#include "async_codec.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

//  A job's quotas: the msgpack array of `count` names
static async_blob_t
s_blob (const char **names, size_t count)
{
    msgpack_sbuffer buffer;
    msgpack_packer pk;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer_init (&pk, &buffer, async_sbuffer_write);
    msgpack_pack_array (&pk, count);
    for (size_t i = 0; i < count; i++)
        async_codec_pack_str (&pk, names [i]);
    async_blob_t blob = { 0 };
    async_blob_take (&blob, (uint8_t *) buffer.data, buffer.size);
    return blob;
}

//  A lane of quota "a" is held back once a's size is reached, and goes on
//  when a slot is given back; a deleted quota holds nothing back
static void
test_quota_holds_a_full_lane (void **state)
{
    (void) state;
    quota_t *quotas = quota_new ();
    quota_set (quotas, "a", 2);
    async_blob_t blob = s_blob ((const char *[]) { "a", "b" }, 2);
    assert_true (quota_allows (quotas, "a,b"));
    quota_count (quotas, &blob, +1);
    assert_true (quota_allows (quotas, "a,b"));
    quota_count (quotas, &blob, +1);
    assert_false (quota_allows (quotas, "a,b"));
    assert_false (quota_allows (quotas, "a"));
    assert_true (quota_allows (quotas, "b"));           //  no such quota: no limit
    assert_true (quota_allows (quotas, NULL));
    quota_count (quotas, &blob, -1);
    assert_true (quota_allows (quotas, "a,b"));
    quota_count (quotas, &blob, +1);
    quota_set (quotas, "a", 3);                         //  grown: room again
    assert_true (quota_allows (quotas, "a"));
    assert_int_equal (quota_delete (quotas, "a"), 0);
    assert_int_equal (quota_delete (quotas, "a"), -1);
    quota_count (quotas, &blob, +1);
    assert_true (quota_allows (quotas, "a"));
    async_blob_clear (&blob);
    quota_destroy (&quotas);
    assert_null (quotas);
}

//  quota_count_one counts a job in the one quota named, if it names it
static void
test_quota_count_one_counts_that_quota_alone (void **state)
{
    (void) state;
    quota_t *quotas = quota_new ();
    assert_true (quota_set (quotas, "a", 1));
    assert_false (quota_set (quotas, "a", 1));          //  made once
    quota_set (quotas, "b", 1);
    async_blob_t both = s_blob ((const char *[]) { "a", "b" }, 2);
    async_blob_t other = s_blob ((const char *[]) { "c" }, 1);
    quota_count_one (quotas, &both, "a", +1);
    quota_count_one (quotas, &other, "a", +1);          //  does not name a
    assert_false (quota_allows (quotas, "a"));
    assert_true (quota_allows (quotas, "b"));
    async_blob_clear (&both);
    async_blob_clear (&other);
    quota_destroy (&quotas);
}

static void
test_quota_check_names_the_unknown_one (void **state)
{
    (void) state;
    quota_t *quotas = quota_new ();
    quota_set (quotas, "gpu", 1);
    async_blob_t known = s_blob ((const char *[]) { "gpu" }, 1);
    async_blob_t unknown = s_blob ((const char *[]) { "gpu", "tape" }, 2);
    async_blob_t none = { 0 };
    char err [200];
    assert_int_equal (quota_check (quotas, &known, err, sizeof err), 0);
    assert_int_equal (quota_check (quotas, &none, err, sizeof err), 0);
    assert_int_equal (quota_check (quotas, &unknown, err, sizeof err), -1);
    assert_non_null (strstr (err, "unknown quota 'tape'"));
    async_blob_clear (&known);
    async_blob_clear (&unknown);
    quota_destroy (&quotas);
}

static void
test_quota_lane_joins_the_names (void **state)
{
    (void) state;
    async_blob_t blob = s_blob ((const char *[]) { "a", "bb", "c" }, 3);
    char *lane = quota_lane (&blob);
    assert_string_equal (lane, "a,bb,c");
    free (lane);
    async_blob_clear (&blob);
    async_blob_t empty = s_blob (NULL, 0);
    assert_null (quota_lane (&empty));
    async_blob_clear (&empty);
    async_blob_t none = { 0 };
    assert_null (quota_lane (&none));
}

static void
test_quota_pack_list_gives_size_and_running (void **state)
{
    (void) state;
    quota_t *quotas = quota_new ();
    quota_set (quotas, "q", 5);
    async_blob_t blob = s_blob ((const char *[]) { "q" }, 1);
    quota_count (quotas, &blob, +1);
    msgpack_sbuffer buffer;
    msgpack_packer pk;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer_init (&pk, &buffer, async_sbuffer_write);
    quota_pack_list (quotas, &pk);
    json_t *list = async_codec_decode_json (buffer.data, buffer.size);
    assert_non_null (list);
    char *text = json_dumps (list, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal (text, "[{\"name\":\"q\",\"running\":1,\"size\":5}]");
    free (text);
    json_decref (list);
    msgpack_sbuffer_destroy (&buffer);
    async_blob_clear (&blob);
    quota_destroy (&quotas);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_quota_holds_a_full_lane),
        cmocka_unit_test (test_quota_count_one_counts_that_quota_alone),
        cmocka_unit_test (test_quota_check_names_the_unknown_one),
        cmocka_unit_test (test_quota_lane_joins_the_names),
        cmocka_unit_test (test_quota_pack_list_gives_size_and_running),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
