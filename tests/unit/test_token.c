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

//  A proof is all 64 bits of its own MAC: bound to the token's epoch, the
//  job, node and attempt and the secret, and not the token's MAC
static void
test_token_proof_binds_everything_in_64_bits (void **state)
{
    (void) state;
    token_key_t key = s_reference_key ();
    uint64_t token = token_make (&key, 7, S_ID, S_NODE, 3);
    uint64_t proof = token_proof (&key, token, S_ID, S_NODE, 3);
    assert_true (proof == token_proof (&key, token, S_ID, S_NODE, 3));
    assert_true (token_proof_valid (&key, proof, token, S_ID, S_NODE, 3));
    assert_false (token_proof_valid (&key, proof, token, S_OTHER, S_NODE, 3));
    assert_false (token_proof_valid (&key, proof, token, S_ID, S_OTHER, 3));
    assert_false (token_proof_valid (&key, proof, token, S_ID, S_NODE, 4));
    assert_false (token_proof_valid (&key, proof, token_make (&key, 8, S_ID, S_NODE, 3), S_ID,
                                     S_NODE, 3));
    assert_false (token_proof_valid (&key, proof ^ 1, token, S_ID, S_NODE, 3));
    assert_false (token_proof_valid (&key, proof ^ (1ULL << 63), token, S_ID, S_NODE, 3));
    assert_false (token_proof_valid (&key, 0, token, S_ID, S_NODE, 3));
    token_key_t other = key;
    other.k0 ^= 1;
    assert_false (token_proof_valid (&other, proof, token, S_ID, S_NODE, 3));
    //  Not the token's MAC, nor its low half
    assert_true ((uint32_t) proof != (uint32_t) token);
    //  The high 32 bits are used: over 64 attempts, they are not all zero
    //  nor all the same (one chance in 2^32 each that this is wrong)
    uint64_t high_or = 0, high_and = ~0ULL;
    for (int attempt = 1; attempt <= 64; attempt++) {
        uint64_t other_token = token_make (&key, 7, S_ID, S_NODE, attempt);
        uint64_t high = token_proof (&key, other_token, S_ID, S_NODE, attempt) >> 32;
        high_or |= high;
        high_and &= high;
    }
    assert_true (high_or != 0 && high_and != high_or);
}

//  The proof's message is fixed (docs/protocol.md section 7): a vector
//  under the reference key, so that a change of the layout shows
static void
test_token_proof_matches_its_vector (void **state)
{
    (void) state;
    token_key_t key = s_reference_key ();
    uint64_t token = token_make (&key, 7, S_ID, S_NODE, 3);
    uint8_t data [1 + 8 + 36 + 36 + 4] = { 'A', 0, 0, 0, 0, 0, 0, 0, 7 };
    memcpy (data + 9, S_ID, 36);
    memcpy (data + 45, S_NODE, 36);
    data [84] = 3;
    assert_true (token_proof (&key, token, S_ID, S_NODE, 3)
                 == token_siphash (&key, data, sizeof data));
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_token_siphash_matches_the_reference),
        cmocka_unit_test (test_token_names_its_epoch_and_checks),
        cmocka_unit_test (test_token_binds_job_node_attempt_and_secret),
        cmocka_unit_test (test_token_proof_binds_everything_in_64_bits),
        cmocka_unit_test (test_token_proof_matches_its_vector),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
