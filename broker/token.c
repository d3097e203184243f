/*  =========================================================================
    token - fencing tokens that the broker can check without remembering
    them
    =========================================================================
*/
#include "token.h"
#include "asyncmesh/id.h"
#include <string.h>

static uint64_t
s_le64 (const uint8_t *p)
{
    uint64_t value = 0;
    for (int i = 7; i >= 0; i--)
        value = (value << 8) | p [i];
    return value;
}

#define S_ROTL(x, b) (((x) << (b)) | ((x) >> (64 - (b))))
#define S_SIPROUND \
    do { \
        v0 += v1; v1 = S_ROTL (v1, 13); v1 ^= v0; v0 = S_ROTL (v0, 32); \
        v2 += v3; v3 = S_ROTL (v3, 16); v3 ^= v2; \
        v0 += v3; v3 = S_ROTL (v3, 21); v3 ^= v0; \
        v2 += v1; v1 = S_ROTL (v1, 17); v1 ^= v2; v2 = S_ROTL (v2, 32); \
    } while (0)

uint64_t
token_siphash (const token_key_t *key, const void *data, size_t size)
{
    const uint8_t *in = (const uint8_t *) data;
    uint64_t v0 = 0x736f6d6570736575ULL ^ key->k0;
    uint64_t v1 = 0x646f72616e646f6dULL ^ key->k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ key->k0;
    uint64_t v3 = 0x7465646279746573ULL ^ key->k1;
    size_t whole = size - size % 8;
    for (size_t at = 0; at < whole; at += 8) {
        uint64_t m = s_le64 (in + at);
        v3 ^= m;
        S_SIPROUND;
        S_SIPROUND;
        v0 ^= m;
    }
    uint8_t tail [8] = { 0 };
    memcpy (tail, in + whole, size - whole);
    tail [7] = (uint8_t) size;
    uint64_t m = s_le64 (tail);
    v3 ^= m;
    S_SIPROUND;
    S_SIPROUND;
    v0 ^= m;
    v2 ^= 0xff;
    S_SIPROUND;
    S_SIPROUND;
    S_SIPROUND;
    S_SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

void
token_key_load (token_key_t *key, const uint8_t *secret)
{
    key->k0 = s_le64 (secret);
    key->k1 = s_le64 (secret + 8);
}

//  The MAC of `tag` (none when 0: a token's), then epoch (8, big-endian),
//  id (36), node (36), attempt (4, big-endian). A proof's message is one
//  byte longer than a token's, so that no proof is ever a token's MAC
static uint64_t
s_mac (const token_key_t *key, char tag, uint64_t epoch, const char *id, const char *node,
       int attempt)
{
    uint8_t data [1 + 8 + ASYNC_ID_CHARS + ASYNC_ID_CHARS + 4];
    uint8_t *at = data;
    if (tag)
        *at++ = (uint8_t) tag;
    for (int i = 0; i < 8; i++)
        at [i] = (uint8_t) (epoch >> (56 - 8 * i));
    memset (at + 8, 0, 72);
    strncpy ((char *) at + 8, id, ASYNC_ID_CHARS);
    strncpy ((char *) at + 8 + ASYNC_ID_CHARS, node, ASYNC_ID_CHARS);
    for (int i = 0; i < 4; i++)
        at [80 + i] = (uint8_t) ((uint32_t) attempt >> (24 - 8 * i));
    return token_siphash (key, data, (size_t) (at + 84 - data));
}

uint64_t
token_make (const token_key_t *key, uint64_t epoch, const char *id, const char *node,
            int attempt)
{
    return (epoch << 32) | (uint32_t) s_mac (key, 0, epoch, id, node, attempt);
}

bool
token_valid (const token_key_t *key, uint64_t token, const char *id, const char *node,
             int attempt)
{
    uint64_t epoch = token >> 32;
    return epoch > 0 && token == token_make (key, epoch, id, node, attempt);
}

uint64_t
token_proof (const token_key_t *key, uint64_t token, const char *id, const char *node,
             int attempt)
{
    return s_mac (key, 'A', token >> 32, id, node, attempt);
}

bool
token_proof_valid (const token_key_t *key, uint64_t proof, uint64_t token, const char *id,
                   const char *node, int attempt)
{
    return (proof ^ token_proof (key, token, id, node, attempt)) == 0;
}
