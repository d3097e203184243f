//  test_agentset - the AGENT-SET changes in flight (broker/agentset.c)
#include "agentset.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#define NODE_A "00000000-0000-4000-8000-0000000000a0"
#define NODE_B "00000000-0000-4000-8000-0000000000b0"
#define NODE_C "00000000-0000-4000-8000-0000000000c0"

//  Changes get refs 1, 2, 3... in order, keep what they were given (the
//  client's routing id copied), and are found by node and by ref and peer
static void
test_agentset_numbers_and_finds_changes (void **state)
{
    (void) state;
    agentset_t *sets = agentset_new ();
    assert_int_equal (agentset_size (sets), 0);
    assert_null (agentset_first (sets));
    zframe_t *client = zframe_new ("client", 6);
    agentset_change_t *a = agentset_add (sets, NODE_A, "00aa", client, 7, 1000);
    agentset_change_t *b = agentset_add (sets, NODE_B, "00bb", client, 8, 2000);
    zframe_destroy (&client);
    assert_int_equal (a->ref, 1);
    assert_int_equal (b->ref, 2);
    assert_string_equal (a->uuid, NODE_A);
    assert_string_equal (a->rkey, "00aa");
    assert_int_equal (a->rid, 7);
    assert_int_equal (a->deadline, 1000);
    assert_true (zframe_streq (a->client, "client"));
    assert_int_equal (agentset_size (sets), 2);

    assert_ptr_equal (agentset_for_node (sets, NODE_B), b);
    assert_null (agentset_for_node (sets, NODE_C));
    assert_ptr_equal (agentset_find (sets, 1, "00aa"), a);
    assert_null (agentset_find (sets, 1, "00bb"));  //  not that peer's
    assert_null (agentset_find (sets, 3, "00aa"));
    agentset_destroy (&sets);  //  with changes in flight
    assert_null (sets);
    agentset_destroy (&sets);  //  safe again
}

//  A change removed is gone, the others stay in order; refs go on from
//  the last one, never reused
static void
test_agentset_remove_keeps_the_others_in_order (void **state)
{
    (void) state;
    agentset_t *sets = agentset_new ();
    zframe_t *client = zframe_new ("c", 1);
    agentset_add (sets, NODE_A, "00aa", client, 1, 0);
    agentset_change_t *b = agentset_add (sets, NODE_B, "00bb", client, 2, 0);
    agentset_add (sets, NODE_C, "00cc", client, 3, 0);
    agentset_remove (sets, &b);
    assert_null (b);
    agentset_remove (sets, &b);  //  NULL: nothing
    assert_int_equal (agentset_size (sets), 2);
    assert_null (agentset_for_node (sets, NODE_B));
    assert_null (agentset_find (sets, 2, "00bb"));
    agentset_change_t *change = agentset_first (sets);
    assert_string_equal (change->uuid, NODE_A);
    change = agentset_next (sets);
    assert_string_equal (change->uuid, NODE_C);
    assert_null (agentset_next (sets));

    agentset_change_t *again = agentset_add (sets, NODE_B, "00bb", client, 4, 0);
    assert_int_equal (again->ref, 4);
    zframe_destroy (&client);
    while ((change = agentset_first (sets)))
        agentset_remove (sets, &change);
    assert_int_equal (agentset_size (sets), 0);
    agentset_destroy (&sets);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_agentset_numbers_and_finds_changes),
        cmocka_unit_test (test_agentset_remove_keeps_the_others_in_order),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
