/* See mt_update_ram.h. */
#include "mt_update_ram.h"

#include <string.h>

static uint8_t *slots[2];
static uint8_t record[MT_UPDATE_STATE_BYTES];
static int saved;

static int ram_erase(void *c, int slot, uint32_t n) {
  (void)c;
  memset(slots[slot], 0xff, n);
  return 0;
}
static int ram_write(void *c, int slot, uint32_t at, const uint8_t *d, uint32_t n) {
  (void)c;
  memcpy(slots[slot] + at, d, n);
  return 0;
}
static const uint8_t *ram_read(void *c, int slot) {
  (void)c;
  return slots[slot];
}
static int ram_load(void *c, uint8_t *r, uint32_t n) {
  (void)c;
  if (!saved) return 1;
  memcpy(r, record, n);
  return 0;
}
static int ram_save(void *c, const uint8_t *r, uint32_t n) {
  (void)c;
  memcpy(record, r, n);
  saved = 1;
  return 0;
}

static mt_update_storage_t storage = {NULL, 0, ram_erase, ram_write, ram_read, ram_load, ram_save};

const mt_update_storage_t *mt_update_ram(uint8_t *slot0, uint8_t *slot1, uint32_t slot_bytes) {
  slots[0] = slot0;
  slots[1] = slot1;
  saved = 0;
  storage.slot_bytes = slot_bytes;
  return &storage;
}
