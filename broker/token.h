/*  =========================================================================
    token - fencing tokens that the broker can check without remembering
    them

    A token is epoch << 32 | the low 32 bits of SipHash-2-4, keyed by the
    store's secret, over (epoch, job id, node uuid, attempt). The epoch keeps
    tokens of one broker process above those of the ones before it; the
    hash makes a token unguessable (a node that sees its own cannot make
    another node's, nor the next one) and lets a broker restarted since
    check a token it never wrote down: an attempt that was handed out but
    not yet recorded when the broker stopped (docs/protocol.md section 8).

    A proof goes with each token to its node, never to clients: all 64 bits
    of SipHash-2-4 under the same secret over a message of its own (a tag
    byte 'A', then epoch, job id, node uuid, attempt). A node shows it to
    take back a job that is pending again after a restart; a token has only
    32 bits of MAC, too few for a value a node may present to be checked
    that fast, online.
    =========================================================================
*/
#ifndef TOKEN_H_INCLUDED
#define TOKEN_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  The 16-byte secret, kept in the store (docs/storage.md, `msecret`)
typedef struct {
    uint64_t k0, k1;
} token_key_t;

#define TOKEN_SECRET_SIZE 16

//  The key of a stored secret of TOKEN_SECRET_SIZE bytes
void
    token_key_load (token_key_t *key, const uint8_t *secret);

//  The token of attempt `attempt` (from 1) of job `id` on node `node`,
//  given by the broker process of `epoch`
uint64_t
    token_make (const token_key_t *key, uint64_t epoch, const char *id, const char *node,
                int attempt);

//  Whether `token` is the one token_make gave for that attempt, in
//  whatever epoch it names
bool
    token_valid (const token_key_t *key, uint64_t token, const char *id, const char *node,
                 int attempt);

//  The proof of the attempt that `token` (as token_make made it) names:
//  the 64-bit MAC of tag 'A', its epoch, `id`, `node` and `attempt`
uint64_t
    token_proof (const token_key_t *key, uint64_t token, const char *id, const char *node,
                 int attempt);

//  Whether `proof` is the one token_proof gives for that token and
//  attempt
bool
    token_proof_valid (const token_key_t *key, uint64_t proof, uint64_t token, const char *id,
                       const char *node, int attempt);

//  SipHash-2-4 of `size` bytes (for the unit test's reference vectors)
uint64_t
    token_siphash (const token_key_t *key, const void *data, size_t size);

#endif
