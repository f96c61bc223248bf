/* mt_update.h's storage in RAM: two slots the caller gives and the state record, kept until the
 * program ends (a board without flash for it, `replay --update-at`). One per program. */
#ifndef MT_UPDATE_RAM_H
#define MT_UPDATE_RAM_H

#include <stdint.h>

#include "mt_update.h"

/* The storage over slot0 and slot1 (slot_bytes each), with no state record saved yet. */
const mt_update_storage_t *mt_update_ram(uint8_t *slot0, uint8_t *slot1, uint32_t slot_bytes);

#endif
