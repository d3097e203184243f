//  fuzz_broker.h - the input format of fuzz_broker.c, shared with its seed
//  generator make_corpus_broker.c
//
//  An input is a sequence of records, each one message to the broker:
//
//      peer (1 byte)  length (2 bytes, big-endian)  body (length bytes)
//
//  `peer` % FUZZ_PEERS picks the routing id the message comes from (two
//  clients, two nodes), so HELLO, then STARTED/RESULT from the same node
//  work; the body is the frame the broker parses (docs/protocol.md). A
//  length past the end of the input takes what is left.
//
//  The broker makes job ids and fencing tokens the input cannot guess. So
//  before a body is handled, the fuzzer replaces these placeholders, byte
//  for byte (same length), with what the broker last sent its peers:
//    FUZZ_ID_ASSIGNED  the id of the last job ASSIGNed to a node
//    FUZZ_ID_ACCEPTED  the id in the last ACCEPTED (or CALLBACK)
//    FUZZ_TOKEN        the msgpack uint64 0xcf + 8 bytes: the last token
#ifndef FUZZ_BROKER_H_INCLUDED
#define FUZZ_BROKER_H_INCLUDED

#define FUZZ_PEERS          4
#define FUZZ_PEER_NAMES     { "c1", "c2", "n1", "n2" }
#define FUZZ_C1             0
#define FUZZ_C2             1
#define FUZZ_N1             2
#define FUZZ_N2             3

//  36 bytes each, as an id
#define FUZZ_ID_ASSIGNED    "{assigned-job-id-placeholder-36-byt}"
#define FUZZ_ID_ACCEPTED    "{accepted-job-id-placeholder-36-byt}"
//  "!token!!" as a big-endian uint64: msgpack packs it as 0xcf + those bytes
#define FUZZ_TOKEN_VALUE    0x21746f6b656e2121ULL
#define FUZZ_TOKEN_BYTES    "\xcf!token!!"

//  At most this many records of an input are handled
#define FUZZ_MAX_RECORDS    64

#endif
