//  test_token - fencing tokens (broker/token.c)
#include "token.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

static token_key_t
s_reference_key (void)
{
    uint8_t secret [TOKEN_SECRET_SIZE];
    for (int i = 0; i < TOKEN_SECRET_SIZE; i++)
        secret [i] = (uint8_t) i;
    token_key_t key;
    token_key_load (&key, secret);
    return key;
}

//  The reference vectors of the SipHash paper: key 00..0f, message
//  00..(n-1)
static void
test_token_siphash_matches_the_reference (void **state)
{
    (void) state;
    token_key_t key = s_reference_key ();
    uint8_t message [16];
    for (int i = 0; i < 16; i++)
        message [i] = (uint8_t) i;
    assert_true (token_siphash (&key, message, 0) == 0x726fdb47dd0e0e31ULL);
    assert_true (token_siphash (&key, message, 1) == 0x74f839c593dc67fdULL);
    assert_true (token_siphash (&key, message, 8) == 0x93f5f5799a932462ULL);
    assert_true (token_siphash (&key, message, 15) == 0xa129ca6149be45e5ULL);
}

#define S_ID    "0190a5c2-7d3e-7c41-9a6b-2f5e8d1c3b4a"
#define S_NODE  "5a3e1f2b-8c4d-4e6f-9a0b-1c2d3e4f5a6b"
#define S_OTHER "6b4f2a3c-9d5e-4f70-8b1c-2d3e4f5a6b7c"

static void
test_token_names_its_epoch_and_checks (void **state)
{
    (void) state;
    token_key_t key = s_reference_key ();
    uint64_t token = token_make (&key, 7, S_ID, S_NODE, 3);
    assert_int_equal (token >> 32, 7);
    assert_true (token_valid (&key, token, S_ID, S_NODE, 3));
}

//  A token made for one attempt is no use for another job, node, attempt
//  or epoch, nor under another secret
static void
test_token_binds_job_node_attempt_and_secret (void **state)
{
    (void) state;
    token_key_t key = s_reference_key ();
    uint64_t token = token_make (&key, 7, S_ID, S_NODE, 3);
    assert_false (token_valid (&key, token, S_OTHER, S_NODE, 3));
    assert_false (token_valid (&key, token, S_ID, S_OTHER, 3));
    assert_false (token_valid (&key, token, S_ID, S_NODE, 4));
    assert_false (token_valid (&key, token + (1ULL << 32), S_ID, S_NODE, 3));
    assert_false (token_valid (&key, token ^ 1, S_ID, S_NODE, 3));
    assert_false (token_valid (&key, 0, S_ID, S_NODE, 3));
    token_key_t other = key;
    other.k1 ^= 1;
    assert_false (token_valid (&other, token, S_ID, S_NODE, 3));
    assert_true (token_make (&key, 7, S_ID, S_NODE, 4) != token);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_token_siphash_matches_the_reference),
        cmocka_unit_test (test_token_names_its_epoch_and_checks),
        cmocka_unit_test (test_token_binds_job_node_attempt_and_secret),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
