/* Homeward secure channel: frames and the I/O-free connection state machine
 * (docs/protocol.md §2-§3). The caller moves bytes (libuv, sockets); the
 * channel runs the Noise XX handshake, seals and opens transport messages,
 * splits and reassembles application messages, and tells a clean end (the
 * peer's final message) from a truncated one.
 *
 * Wire: frame = u32 big-endian body length (1..HW_FRAME_MAX) || body, where
 * the body is one Noise message. A transport plaintext is flags (1 byte),
 * then either one whole message, a fragment of a large one ([u32 BE total
 * length, on the first of several] || bytes), or a batch of small messages
 * sent together (each prefixed by its length as a LEB128 varint).
 *
 * Any error from hw_chan_feed or hw_chan_send other than HW_EINVAL and
 * HW_ENOMEM is final: the channel is failed and every later call returns
 * HW_ECLOSED (a decrypt failure is never retried). Not thread-safe. */
#ifndef HOMEWARD_PROTO_CHAN_H
#define HOMEWARD_PROTO_CHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "homeward/bytes.h"
#include "homeward/err.h"
#include "homeward/proto/limits.h"
#include "homeward/proto/noise.h"

/* Fragment flags (first plaintext byte of a transport message). */
#define HW_FRAG_MORE 0x01u  /* more fragments of this message follow */
#define HW_FRAG_FIRST 0x02u /* first of several: a u32 BE total length follows */
#define HW_FRAG_FINAL 0x04u /* the sender's last message on this connection */
#define HW_FRAG_BATCH 0x08u /* two or more whole messages, each length-prefixed */
#define HW_FRAG_SINGLE_MAX (HW_NOISE_MSG_MAX - HW_NOISE_TAG_BYTES - 1u)
#define HW_FRAG_FIRST_MAX (HW_NOISE_MSG_MAX - HW_NOISE_TAG_BYTES - 5u)

/* Frame header: *body_len from the first HW_FRAME_HDR_BYTES of buf.
 * Returns 0, HW_EAGAIN (fewer than 4 bytes), HW_EPROTO (length 0) or
 * HW_ELIMIT (over HW_FRAME_MAX). */
HW_NODISCARD HW_EXPORT int hw_frame_peek(const uint8_t *buf, size_t len, size_t *body_len);
HW_EXPORT void hw_frame_put_header(uint8_t out[static HW_FRAME_HDR_BYTES], uint32_t body_len);

typedef enum hw_chan_state {
  HW_CHAN_HANDSHAKE, /* handshake under way */
  HW_CHAN_OPEN,      /* transport: messages flow both ways */
  HW_CHAN_ENDED,     /* the peer's final message arrived: a clean end */
  HW_CHAN_FAILED,    /* an error ended the channel; nothing more is accepted */
} hw_chan_state;

typedef struct hw_chan hw_chan; /* opaque */

/* The device side (Noise initiator). `s` is borrowed and must outlive the
 * channel; `pin` (the server's public key) and `token` (NULL, or
 * HW_TOKEN_BYTES when enrolling) are copied. The first handshake message is
 * queued for sending at once. Returns 0, HW_EINVAL or HW_ENOMEM. */
HW_NODISCARD HW_EXPORT int hw_chan_new_device(hw_chan **out, const hw_noise_key *s,
                                              const uint8_t pin[static HW_NOISE_KEY_BYTES],
                                              const uint8_t *token);
/* The server side (Noise responder). `s` is borrowed. Returns 0, HW_EINVAL or
 * HW_ENOMEM. */
HW_NODISCARD HW_EXPORT int hw_chan_new_server(hw_chan **out, const hw_noise_key *s);
HW_EXPORT void hw_chan_free(hw_chan *c); /* wipes; NULL does nothing */

/* Feed received bytes (borrowed). Takes bytes up to the end of the first
 * complete application message, or all of them; *used says how many. When a
 * message completed, *msg points at it (valid until the next hw_chan_feed or
 * hw_chan_free) and *final says whether the peer marked it as its last;
 * otherwise msg->p is NULL. Handshake replies are queued for sending.
 * Call again with the rest (possibly none: a batch delivers one message per
 * call) until a call returns no message with *used == len. Returns 0, HW_EPROTO
 * (malformed frame, fragment or handshake), HW_ELIMIT (a frame or message
 * over its limit, refused before allocating), HW_EAUTH (decrypt failure, bad
 * pin, low-order point), HW_ENOMEM (the channel is failed too: input was
 * consumed) or HW_ECLOSED. */
HW_NODISCARD HW_EXPORT int hw_chan_feed(hw_chan *c, const uint8_t *in, size_t len, size_t *used,
                                        hw_bytes *msg, bool *final);

#define HW_SEND_FINAL 0x1u /* this side's last message: later sends return HW_ECLOSED */
#define HW_SEND_CORK 0x2u  /* more follow at once: hold it to share a transport message */

/* Queue one application message (borrowed, copied; 1..HW_APP_MSG_MAX bytes),
 * split into fragments as needed. With HW_SEND_CORK a small message is held
 * back and sealed together with the next ones, in one transport message,
 * when a send without HW_SEND_CORK (or hw_chan_flush) comes; held messages
 * are not in hw_chan_pending. Returns 0, HW_EINVAL (not open, empty, FINAL
 * with CORK), HW_ELIMIT (too long; or nonce exhausted, which fails the
 * channel), HW_ENOMEM (this message not queued) or HW_ECLOSED. */
HW_NODISCARD HW_EXPORT int hw_chan_send(hw_chan *c, const uint8_t *msg, size_t len, unsigned flags);
/* Seal the held (corked) messages now. Returns 0, HW_ENOMEM (still held),
 * HW_ELIMIT (nonce exhausted; the channel fails) or HW_ECLOSED. */
HW_NODISCARD HW_EXPORT int hw_chan_flush(hw_chan *c);

/* Bytes waiting to be written (valid until the next call on the channel),
 * and dropping the first n of them once written. */
HW_EXPORT hw_bytes hw_chan_pending(const hw_chan *c);
HW_EXPORT void hw_chan_consume(hw_chan *c, size_t n);

HW_EXPORT hw_chan_state hw_chan_get_state(const hw_chan *c);

/* The connection ended (EOF) on the caller's socket: HW_OK when the peer's
 * final message had arrived (a clean end), otherwise HW_EPROTO (truncated).
 * The channel is closed either way. */
HW_NODISCARD HW_EXPORT int hw_chan_eof(hw_chan *c);

/* After the handshake: the peer's static key (server side: the device's
 * identity; device side: the pinned server key), the Noise handshake hash
 * and, on the server side, the enrolment token if the device sent one
 * (HW_ENOENT otherwise). Return 0 or HW_EINVAL before the handshake ends. */
HW_NODISCARD HW_EXPORT int hw_chan_peer_key(const hw_chan *c,
                                            uint8_t out[static HW_NOISE_KEY_BYTES]);
HW_NODISCARD HW_EXPORT int hw_chan_handshake_hash(const hw_chan *c,
                                                  uint8_t out[static HW_NOISE_HASH_BYTES]);
HW_NODISCARD HW_EXPORT int hw_chan_token(const hw_chan *c, uint8_t out[static HW_TOKEN_BYTES]);

#endif
