/* RAM storage for mt_update in the update tests (test_storage.h). */
#include "test_storage.h"

#include <string.h>

static uint8_t *slot_at(void *c, int slot) {
  test_storage_t *t = c;
  return t->slots + (size_t)slot * t->storage.slot_bytes;
}

static int ram_erase(void *c, int slot, uint32_t bytes) {
  memset(slot_at(c, slot), 0xff, bytes);
  return 0;
}

static int ram_write(void *c, int slot, uint32_t offset, const uint8_t *data, uint32_t length) {
  memcpy(slot_at(c, slot) + offset, data, length);
  return 0;
}

static const uint8_t *ram_read(void *c, int slot) { return slot_at(c, slot); }

static int ram_load(void *c, uint8_t *record, uint32_t length) {
  test_storage_t *t = c;
  if (!t->has_record) return 1;
  memcpy(record, t->record, length);
  return 0;
}

static int ram_save(void *c, const uint8_t *record, uint32_t length) {
  test_storage_t *t = c;
  if (t->failing_saves > 0) return (int)t->failing_saves--;
  memcpy(t->record, record, length);
  t->has_record = 1;
  return 0;
}

const mt_update_storage_t *test_storage_init(test_storage_t *t, uint8_t *slots,
                                             uint32_t slot_bytes) {
  memset(t, 0, sizeof *t);
  t->slots = slots;
  t->storage.context = t;
  t->storage.slot_bytes = slot_bytes;
  t->storage.erase = ram_erase;
  t->storage.write = ram_write;
  t->storage.read_pointer = ram_read;
  t->storage.load_state = ram_load;
  t->storage.save_state = ram_save;
  return &t->storage;
}
