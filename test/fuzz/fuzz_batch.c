/*
 * libFuzzer target: arbitrary bytes as typed connection records back to back (docs/ABI.md),
 * through mt_ingest_connection_records until all whole records are consumed, then mt_finish.
 * Byte 0 chooses the profile and the drain (fz_begin). Then the same records again, one by one
 * through mt_ingest_connection: the output and the stats must be identical (a batch is only a
 * faster way to say the same thing). Checks: fuzz_common.h.
 */
#include "fuzz_common.h"

#define HEADER 68u

static size_t record_size(const uint8_t *p) {
  return HEADER + (size_t)(p[64] | p[65] << 8) + (size_t)(p[66] | p[67] << 8);
}

static uint64_t get_le(const uint8_t *p, int n) {
  uint64_t v = 0;
  for (int k = 0; k < n; k++) v |= (uint64_t)p[k] << (8 * k);
  return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *rec;
  size_t len, at = 0, skipped_total = 0, skipped_one = 0, consumed, skipped;
  uint64_t hash;
  fz_stats_t batch_stats, one_stats;
  int linux, blind;
  if (size < 1) {
    return 0;
  }
  linux = data[0] & 1;
  rec = data + 1;
  len = size - 1;

  fz_begin(linux, (uint8_t)(data[0] >> 1));
  if (setjmp(fz.bail) != 0) {
    fz_report(); /* abandoned (fz_abandon): what it sent so far */
    return 0;
  }
  while (at < len) {
    mt_status_t st = mt_ingest_connection_records(fz.core, rec + at, len - at, &consumed, &skipped);
    if (st == MT_ERR_PARAM) {
      FZ_CHECK(len - at < HEADER || record_size(rec + at) > len - at,
               "MT_ERR_PARAM with a whole record of %zu bytes in the %zu left",
               record_size(rec + at), len - at);
      break;
    }
    fz_after(st, "mt_ingest_connection_records", NULL, 0, 0);
    FZ_CHECK(st == MT_OK && consumed > 0 && consumed <= len - at,
             "records: %s, consumed %zu of %zu", mt_status_name(st), consumed, len - at);
    at += consumed;
    skipped_total += skipped;
  }
  fz_finish();
  hash = fz.output_hash;
  batch_stats = fz.last;
  blind = fz.blind;

  fz_begin(linux, (uint8_t)(data[0] >> 1));
  at = 0;
  while (len - at >= HEADER && record_size(rec + at) <= len - at) {
    const uint8_t *p = rec + at;
    mt_connection_t c;
    mt_status_t st;
    memset(&c, 0, sizeof c);
    c.t_ms = (int64_t)get_le(p, 8);
    c.bytes_in = get_le(p + 8, 8);
    c.bytes_out = get_le(p + 16, 8);
    memcpy(c.local, p + 24, 16);
    memcpy(c.remote, p + 40, 16);
    c.local_port = (uint16_t)get_le(p + 56, 2);
    c.remote_port = (uint16_t)get_le(p + 58, 2);
    c.protocol = p[60];
    c.direction = p[61];
    c.family = p[62];
    c.remote_family = p[63];
    c.app_len = (size_t)get_le(p + 64, 2);
    c.host_len = (size_t)get_le(p + 66, 2);
    c.app = c.app_len ? (const char *)p + HEADER : NULL;
    c.host = c.host_len ? (const char *)p + HEADER + c.app_len : NULL;
    st = fz_after(mt_ingest_connection(fz.core, &c), "mt_ingest_connection", NULL, 0, 0);
    skipped_one += st == MT_SKIPPED;
    at += record_size(p);
  }
  fz_finish();
  one_stats = fz.last;
  FZ_CHECK(skipped_total == skipped_one, "batch rejected %zu records, one by one %zu",
           skipped_total, skipped_one);
  if (!blind && !fz.blind) {
    FZ_CHECK(hash == fz.output_hash, "batch and one-by-one output differ");
  }
  FZ_CHECK(memcmp(batch_stats.c, one_stats.c, sizeof one_stats.c) == 0 &&
               memcmp(batch_stats.top, one_stats.top, sizeof one_stats.top) == 0,
           "batch and one-by-one stats differ");
  fz_report();
  return 0;
}
