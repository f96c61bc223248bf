/*
 * libFuzzer target: arbitrary bytes as a trace. Byte 0 chooses the profile (bit 0: linux) and
 * how the output is taken (fz_begin); the rest is split on '\n' and each piece goes to
 * mt_ingest_line, drained after each call; then mt_finish. Checks: fuzz_common.h.
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *p, *end;
  FZ_START(data, size);
  p = data + 1;
  end = data + size;
  while (p < end) {
    const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
    size_t len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
    fz_after(mt_ingest_line(fz.core, (const char *)p, len), "mt_ingest_line", p, len, 1);
    if (nl == NULL) {
      break;
    }
    p = nl + 1;
  }
  fz_finish();
  fz_report();
  return 0;
}
