/*
 * Native reference aggregator, for the benchmark only: the core's network aggregation step
 * (assembly/network.ts, table.ts, text.ts) written in C with the same algorithm and the same
 * slot and index layout, so `microtally bench` can report each engine as a ratio to the
 * physical limit of that step on this machine. It reads typed connection records
 * (docs/ABI.md layout) and prints one JSON line of counts and nanoseconds. No JSON output is
 * built here: message writing happens once per window and is not the step being measured.
 */
#define _POSIX_C_SOURCE 199309L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../bindings/mt_record_layout.h"

#define CAP 256u /* rtos network cache */
#define INDEX_ENTRIES (CAP * 4u)
#define APP_CAP 8u
#define HOST_CAP 32u
#define KEY_BYTES 38u
/* Slot offsets, as in network.ts. */
enum {
  O_FAMILIES = 2,
  O_PROTO = 3,
  O_LPORT = 4,
  O_RPORT = 6,
  O_LOCAL = 8,
  O_REMOTE = 24,
  O_HASH = 40,
  O_DIR = 44,
  O_TRUNC = 45,
  O_APPLEN = 46,
  O_HOSTLEN = 48,
  O_HITS = 56,
  O_IN = 64,
  O_OUT = 72,
  O_FIRST = 80,
  O_LAST = 88,
  O_APP = 96,
  O_HOST = O_APP + APP_CAP
};
#define SLOT ((O_HOST + HOST_CAP + 7u) & ~7u)
#define WINDOW_MS 30000 /* rtos medium priority */
#define SEED 0x6d74616cu

static uint8_t slots[CAP * SLOT];
static uint16_t index_[INDEX_ENTRIES];
static uint32_t head, count;
static uint64_t received, sent, dropped;

static uint8_t *slot_at(uint32_t i) { return slots + (size_t)i * SLOT; }
static uint32_t load32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}
static uint64_t load64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}
static void store64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static void flush_window(void) {
  for (uint32_t k = 0; k < count; k++) sent += load64(slot_at((head + k) % CAP) + O_HITS);
  head = 0;
  count = 0;
  memset(index_, 0, sizeof index_);
}

/* Stores a string bounded like storeText for ASCII input (the benchmark's strings are ASCII). */
static void store_text(uint8_t *s, int len_at, int at, uint32_t cap, const uint8_t *src,
                       uint16_t len) {
  uint16_t n = len;
  if (n > cap) {
    n = (uint16_t)cap;
    s[O_TRUNC] = 1;
  }
  memcpy(s + at, src, n);
  memcpy(s + len_at, &n, 2);
}

static uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

/* The core's network key hash (network.ts): the five words rotated apart, folded, then mixed. */
static uint32_t key_hash(uint32_t seed, const uint8_t *k) {
  uint64_t w[5];
  memcpy(w, k, 40);
  uint64_t h = ((uint64_t)seed << 32) ^ w[0] ^ rotl64(w[1], 17) ^ rotl64(w[2], 31) ^
               rotl64(w[3], 41) ^ rotl64(w[4], 53);
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return (uint32_t)h;
}

static void ingest(const uint8_t *rec) {
  uint8_t probe[2 + KEY_BYTES];
  uint16_t key_len = KEY_BYTES;
  uint8_t family = rec[MT_CONN_FAMILY],
          rfamily = rec[MT_CONN_REMOTE_FAMILY] ? rec[MT_CONN_REMOTE_FAMILY] : rec[MT_CONN_FAMILY];
  uint64_t in = load64(rec + MT_CONN_BYTES_IN), out = load64(rec + MT_CONN_BYTES_OUT);
  int64_t t;
  memcpy(&t, rec + MT_CONN_T, 8);
  uint16_t app_len, host_len;
  memcpy(&app_len, rec + MT_CONN_APP_LEN, 2);
  memcpy(&host_len, rec + MT_CONN_HOST_LEN, 2);
  received++;
  if (rec[MT_CONN_PROTO] > 2 || rec[MT_CONN_DIR] > 1 || (family != 4 && family != 6) ||
      in > 9007199254740991ull || out > 9007199254740991ull)
    return;
  memset(probe, 0, sizeof probe);
  memcpy(probe, &key_len, 2);
  probe[O_FAMILIES] = (uint8_t)((family == 6 ? 1 : 0) | (rfamily == 6 ? 2 : 0));
  probe[O_PROTO] = rec[MT_CONN_PROTO];
  memcpy(probe + O_LPORT, rec + MT_CONN_LPORT, 2);
  memcpy(probe + O_RPORT, rec + MT_CONN_RPORT, 2);
  memcpy(probe + O_LOCAL, rec + MT_CONN_LOCAL, family == 6 ? 16 : 4);
  memcpy(probe + O_REMOTE, rec + MT_CONN_REMOTE, rfamily == 6 ? 16 : 4);
  uint32_t h = key_hash(SEED, probe);
  uint32_t at = h & (INDEX_ENTRIES - 1);
  for (;;) {
    uint16_t e = index_[at];
    if (e == 0) break;
    uint8_t *s = slot_at(e - 1u);
    if (load32(s + O_HASH) == h && memcmp(s, probe, 2 + KEY_BYTES) == 0) {
      store64(s + O_HITS, load64(s + O_HITS) + 1);
      store64(s + O_IN, load64(s + O_IN) + in);
      store64(s + O_OUT, load64(s + O_OUT) + out);
      memcpy(s + O_LAST, &t, 8);
      return;
    }
    at = (at + 1) & (INDEX_ENTRIES - 1);
  }
  if (count >= CAP) {
    dropped++;
    return;
  } /* rtos: drop-new */
  uint32_t i = (head + count) % CAP;
  count++;
  uint8_t *s = slot_at(i);
  memcpy(s, probe, 2 + KEY_BYTES);
  memcpy(s + O_HASH, &h, 4);
  s[O_DIR] = rec[MT_CONN_DIR];
  s[O_TRUNC] = 0;
  store64(s + O_HITS, 1);
  store64(s + O_IN, in);
  store64(s + O_OUT, out);
  memcpy(s + O_FIRST, &t, 8);
  memcpy(s + O_LAST, &t, 8);
  store_text(s, O_APPLEN, O_APP, APP_CAP, rec + MT_CONN_HEADER, app_len);
  store_text(s, O_HOSTLEN, O_HOST, HOST_CAP, rec + MT_CONN_HEADER + app_len, host_len);
  at = h & (INDEX_ENTRIES - 1);
  while (index_[at] != 0) at = (at + 1) & (INDEX_ENTRIES - 1);
  index_[at] = (uint16_t)(i + 1);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: reference <records.bin> [repeat]\n");
    return 2;
  }
  int repeat = argc > 2 ? atoi(argv[2]) : 1;
  FILE *f = fopen(argv[1], "rb");
  if (!f) {
    perror(argv[1]);
    return 2;
  }
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *buf = malloc((size_t)size);
  if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size) {
    fprintf(stderr, "read failed\n");
    return 2;
  }
  fclose(f);
  uint64_t events = 0;
  struct timespec a, b;
  double best = 1e30;
  for (int r = 0; r < repeat; r++) {
    head = count = 0;
    received = sent = dropped = 0;
    memset(index_, 0, sizeof index_);
    int64_t window_end = INT64_MIN;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long off = 0; off + MT_CONN_HEADER <= size;) {
      int64_t t;
      memcpy(&t, buf + off, 8);
      if (window_end == INT64_MIN) window_end = t + WINDOW_MS;
      if (t >= window_end) {
        flush_window();
        window_end += ((t - window_end) / WINDOW_MS + 1) * WINDOW_MS;
      }
      ingest(buf + off);
      uint16_t app_len, host_len;
      memcpy(&app_len, buf + off + MT_CONN_APP_LEN, 2);
      memcpy(&host_len, buf + off + MT_CONN_HOST_LEN, 2);
      off += MT_CONN_HEADER + app_len + host_len;
    }
    flush_window();
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ns = (double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec);
    if (ns < best) best = ns;
    events = received;
  }
  printf("{\"events\":%llu,\"received\":%llu,\"sent\":%llu,\"dropped\":%llu,\"ns\":%.0f}\n",
         (unsigned long long)events, (unsigned long long)received, (unsigned long long)sent,
         (unsigned long long)dropped, best);
  free(buf);
  return 0;
}
