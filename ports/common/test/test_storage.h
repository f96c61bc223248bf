/*
 * The update tests' storage for mt_update (mt_update.h's mt_update_storage_t) in RAM: two slots
 * of the caller's and a state record, kept across a "reset" of the same program (open again).
 * Used by test_swap.c, bench_update_m3.c, ports/threadx/test/test_update_tx.c,
 * ports/azure-iot/test/test_agent_hub.c and test/cmake-consumer/main.c.
 */
#ifndef TEST_STORAGE_H
#define TEST_STORAGE_H

#include <stdint.h>

#include "mt_update.h"

typedef struct test_storage {
  mt_update_storage_t storage; /* what mt_update_open takes; its context is this struct */
  uint8_t *slots;              /* 2 x storage.slot_bytes bytes, the caller's */
  uint8_t record[MT_UPDATE_STATE_BYTES];
  int has_record;         /* 0 until the first save: load_state answers "none saved" */
  unsigned failing_saves; /* the next saves of the state record fail (a test sets it) */
} test_storage_t;

/* `t` over `slots` (2 x slot_bytes bytes), no state record saved; returns &t->storage. */
const mt_update_storage_t *test_storage_init(test_storage_t *t, uint8_t *slots,
                                             uint32_t slot_bytes);

#endif
