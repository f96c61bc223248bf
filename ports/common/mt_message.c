/* mt_message.c — see mt_message.h. */
#include "mt_message.h"

mt_status_t mt_message_drain(mt_core_t *core, mt_message_sink_t sink, void *ctx) {
  for (;;) {
    const uint8_t *data = NULL;
    size_t len = 0;
    bool ends = false;
    mt_status_t st = mt_next_chunk(core, &data, &len, &ends);
    if (st == MT_NO_MESSAGE) return MT_OK;
    if (st != MT_OK) return st;
    if (!sink(ctx, data, len, ends)) return MT_OK;
  }
}

bool mt_message_ends_line(mt_message_framing_t *f, const uint8_t *data, size_t len,
                          unsigned where) {
  if (!f->in_message && len > 0) {
    f->json = data[0] == '{';
    f->in_message = true;
  }
  if (where == MT_MESSAGE_MORE) return false;
  f->in_message = false;
  return where == MT_MESSAGE_LAST && f->json;
}
