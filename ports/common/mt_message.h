/*
 * mt_message.h — taking messages out of a core (bindings/microtally.h), written once for every
 * port: the agent of mt_agent.c hands the chunks to its application, mt_replay.c prints them.
 */
#ifndef MT_MESSAGE_H
#define MT_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "microtally.h"

/* Where a chunk stands in its message (the agent's `send` gets these values). */
#define MT_MESSAGE_MORE 0u  /* more chunks of this message follow */
#define MT_MESSAGE_LAST 1u  /* this chunk completes the message */
#define MT_MESSAGE_ABORT 2u /* no bytes: the message was cut short (the core faulted) */

/* Takes one chunk; returns false to leave the rest pending (e.g. the output failed). */
typedef bool (*mt_message_sink_t)(void *ctx, const uint8_t *data, size_t len, bool ends);

/* Hands every pending chunk of `core` to `sink`, in order. Returns MT_OK (nothing more pending,
 * or the sink stopped), or the status of the mt_next_chunk call that failed. */
mt_status_t mt_message_drain(mt_core_t *core, mt_message_sink_t sink, void *ctx);

/* Replay's output (SPEC R10): a JSON message is one line, CBOR data items follow each other
 * with no separator (RFC 8742). A configuration may switch the format mid-run: a JSON message
 * starts with '{', a CBOR one never does. */
typedef struct mt_message_framing {
  bool in_message; /* chunks of a message were seen, not its last one */
  bool json;       /* that message is JSON */
} mt_message_framing_t;

/* Feed every chunk in order (`where`: MT_MESSAGE_*); true when a newline must follow it. */
bool mt_message_ends_line(mt_message_framing_t *f, const uint8_t *data, size_t len, unsigned where);

#endif
