/*
 * Shared part of the libFuzzer targets (test/fuzz/fuzz_*.c): one core per blob, created once
 * per process (wasm3's heap is a bump allocator; the ahead-of-time engine runs one core per
 * blob) and mt_reset between inputs; every input call goes through fz_after(), which drains
 * and checks what must hold for EVERY input:
 *   - no call answers MT_ERR_TRAP / MT_ERR_ENGINE (a trap in the real blob is a bug);
 *   - MT_BUSY exactly while messages are pending: after MT_OK, mt_stats says BUSY iff the drain
 *     then yields a message; between two chunks of one message inputs and mt_stats answer
 *     MT_BUSY; after the drain nothing is busy;
 *   - MT_SKIPPED / MT_BLANK change nothing but the line counters, leave nothing pending, and
 *     MT_SKIPPED has a non-empty UTF-8 reason;
 *   - every message is one valid UTF-8 JSON object of at most the configured maxMessageBytes;
 *     a whole-message buffer of maxMessageBytes always suffices; a small buffer's MT_ERR_BUFFER
 *     reports a length larger than that buffer and is counted;
 *   - mt_stats: received >= sent + discarded + dropped + ignored per collector at any time, and
 *     equal after mt_finish; sent = the HitCounts of the records drained; the CollectorStats
 *     records drained add up to the counters; messages / events / bytes = what was drained.
 * A failed check prints what and where and calls abort(): libFuzzer keeps the input.
 */
#ifndef MT_FUZZ_COMMON_H
#define MT_FUZZ_COMMON_H

#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "microtally.h"
#include "microtally_blobs.h"

#ifndef MT_FUZZ_ENGINE
#define MT_FUZZ_ENGINE "?"
#endif

#define FZ_CHECK(cond, ...)                                                                        \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "\nFUZZ CHECK FAILED (%s engine, %s profile) %s:%d: %s\n  ", MT_FUZZ_ENGINE, \
              fz.linux ? "linux" : "rtos", __FILE__, __LINE__, #cond);                             \
      fprintf(stderr, __VA_ARGS__);                                                                \
      fprintf(stderr, "\n");                                                                       \
      abort();                                                                                     \
    }                                                                                              \
  } while (0)

/* ---- UTF-8 and JSON ------------------------------------------------------------------------- */

/* Strict UTF-8 (no overlong forms, no surrogates, at most U+10FFFF). */
static int fz_utf8_ok(const uint8_t *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = s[i];
    size_t k;
    uint32_t cp;
    if (c < 0x80) {
      i++;
      continue;
    }
    if (c >= 0xc2 && c <= 0xdf) {
      k = 1;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      k = 2;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      k = 3;
      cp = c & 0x07;
    } else {
      return 0;
    }
    if (n - i <= k) {
      return 0;
    }
    for (size_t j = 1; j <= k; j++) {
      if ((s[i + j] & 0xc0) != 0x80) {
        return 0;
      }
      cp = (cp << 6) | (s[i + j] & 0x3f);
    }
    if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff)) {
      return 0;
    }
    i += k + 1;
  }
  return 1;
}

/*
 * A small recursive-descent JSON parser (RFC 8259) that reports every scalar with its path.
 * strict: strings must be valid UTF-8 and \u escapes must pair surrogates (output checks);
 * otherwise raw bytes are accepted inside strings (the core takes invalid UTF-8 in its input
 * and replaces it).
 */
#define FZ_JSON_MAX_DEPTH 64
typedef struct fz_json {
  const uint8_t *s;
  size_t n, i;
  int strict;
  int depth;
  const uint8_t *key[FZ_JSON_MAX_DEPTH]; /* path: member key, or NULL for an array element */
  size_t key_len[FZ_JSON_MAX_DEPTH];
  void (*on_scalar)(struct fz_json *j, char type, const uint8_t *v, size_t len);
  void (*on_open)(struct fz_json *j, char type); /* '{' or '[' at depth (path of it) */
  void (*on_close)(struct fz_json *j, char type);
  void *user;
} fz_json_t;

static int fz_path_is(const fz_json_t *j, int depth, const char *const *parts) {
  /* parts: keys, "[]" for array elements, NULL-terminated; must match the path exactly. */
  int d;
  for (d = 0; parts[d] != NULL; d++) {
    if (d >= depth) {
      return 0;
    }
    if (strcmp(parts[d], "[]") == 0) {
      if (j->key[d] != NULL) {
        return 0;
      }
    } else if (j->key[d] == NULL || j->key_len[d] != strlen(parts[d]) ||
               memcmp(j->key[d], parts[d], j->key_len[d]) != 0) {
      return 0;
    }
  }
  return d == depth;
}

static void fz_ws(fz_json_t *j) {
  while (j->i < j->n &&
         (j->s[j->i] == ' ' || j->s[j->i] == '\t' || j->s[j->i] == '\n' || j->s[j->i] == '\r')) {
    j->i++;
  }
}

static int fz_hex4(fz_json_t *j, uint32_t *v) {
  *v = 0;
  if (j->n - j->i < 4) {
    return 0;
  }
  for (int k = 0; k < 4; k++) {
    uint8_t c = j->s[j->i++];
    *v <<= 4;
    if (c >= '0' && c <= '9')
      *v |= (uint32_t)(c - '0');
    else if (c >= 'a' && c <= 'f')
      *v |= (uint32_t)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
      *v |= (uint32_t)(c - 'A' + 10);
    else
      return 0;
  }
  return 1;
}

/* A string at j->i (the opening quote); start, len: its raw content between the quotes. */
static int fz_string(fz_json_t *j, const uint8_t **start, size_t *len) {
  size_t from;
  if (j->i >= j->n || j->s[j->i] != '"') {
    return 0;
  }
  from = ++j->i;
  while (j->i < j->n) {
    uint8_t c = j->s[j->i];
    if (c == '"') {
      *start = j->s + from;
      *len = j->i - from;
      if (j->strict && !fz_utf8_ok(*start, *len)) {
        return 0;
      }
      j->i++;
      return 1;
    }
    if (c < 0x20) {
      return 0;
    }
    if (c == '\\') {
      uint8_t e;
      if (++j->i >= j->n) {
        return 0;
      }
      e = j->s[j->i++];
      if (e == 'u') {
        uint32_t v;
        if (!fz_hex4(j, &v)) {
          return 0;
        }
        if (j->strict && v >= 0xdc00 && v <= 0xdfff) {
          return 0; /* a lone low surrogate */
        }
        if (j->strict && v >= 0xd800 && v <= 0xdbff) {
          uint32_t w;
          if (j->n - j->i < 6 || j->s[j->i] != '\\' || j->s[j->i + 1] != 'u') {
            return 0;
          }
          j->i += 2;
          if (!fz_hex4(j, &w) || w < 0xdc00 || w > 0xdfff) {
            return 0;
          }
        }
      } else if (!strchr("\"\\/bfnrt", e) || e == 0) {
        return 0;
      }
      continue;
    }
    j->i++;
  }
  return 0;
}

static int fz_number(fz_json_t *j) {
  size_t i = j->i;
  if (i < j->n && j->s[i] == '-') i++;
  if (i >= j->n) return 0;
  if (j->s[i] == '0') {
    i++;
  } else if (j->s[i] >= '1' && j->s[i] <= '9') {
    while (i < j->n && j->s[i] >= '0' && j->s[i] <= '9') i++;
  } else {
    return 0;
  }
  if (i < j->n && j->s[i] == '.') {
    size_t d = ++i;
    while (i < j->n && j->s[i] >= '0' && j->s[i] <= '9') i++;
    if (i == d) return 0;
  }
  if (i < j->n && (j->s[i] == 'e' || j->s[i] == 'E')) {
    size_t d;
    i++;
    if (i < j->n && (j->s[i] == '+' || j->s[i] == '-')) i++;
    d = i;
    while (i < j->n && j->s[i] >= '0' && j->s[i] <= '9') i++;
    if (i == d) return 0;
  }
  j->i = i;
  return 1;
}

static int fz_value(fz_json_t *j);

static int fz_container(fz_json_t *j, char open) {
  char close = open == '{' ? '}' : ']';
  int first = 1;
  if (j->depth >= FZ_JSON_MAX_DEPTH) {
    return 0;
  }
  if (j->on_open) j->on_open(j, open);
  j->i++;
  fz_ws(j);
  if (j->i < j->n && j->s[j->i] == close) {
    j->i++;
    if (j->on_close) j->on_close(j, open);
    return 1;
  }
  for (;;) {
    if (!first) {
      fz_ws(j);
      if (j->i < j->n && j->s[j->i] == close) {
        j->i++;
        if (j->on_close) j->on_close(j, open);
        return 1;
      }
      if (j->i >= j->n || j->s[j->i] != ',') return 0;
      j->i++;
    }
    first = 0;
    fz_ws(j);
    if (open == '{') {
      const uint8_t *k;
      size_t kl;
      if (!fz_string(j, &k, &kl)) return 0;
      fz_ws(j);
      if (j->i >= j->n || j->s[j->i] != ':') return 0;
      j->i++;
      j->key[j->depth] = k;
      j->key_len[j->depth] = kl;
    } else {
      j->key[j->depth] = NULL;
      j->key_len[j->depth] = 0;
    }
    j->depth++;
    fz_ws(j);
    if (!fz_value(j)) return 0;
    j->depth--;
  }
}

static int fz_literal(fz_json_t *j, const char *lit) {
  size_t l = strlen(lit);
  if (j->n - j->i < l || memcmp(j->s + j->i, lit, l) != 0) return 0;
  j->i += l;
  return 1;
}

static int fz_value(fz_json_t *j) {
  size_t at = j->i;
  const uint8_t *str;
  size_t len;
  if (j->i >= j->n) return 0;
  switch (j->s[j->i]) {
    case '{':
    case '[':
      return fz_container(j, (char)j->s[j->i]);
    case '"':
      if (!fz_string(j, &str, &len)) return 0;
      if (j->on_scalar) j->on_scalar(j, 's', str, len);
      return 1;
    case 't':
    case 'f':
    case 'n':
      if (!fz_literal(j, "true") && !fz_literal(j, "false") && !fz_literal(j, "null")) return 0;
      if (j->on_scalar) j->on_scalar(j, 'l', j->s + at, j->i - at);
      return 1;
    default:
      if (!fz_number(j)) return 0;
      if (j->on_scalar) j->on_scalar(j, 'n', j->s + at, j->i - at);
      return 1;
  }
}

/* Parses one whole JSON text; 1 when valid. */
static int fz_json_parse(fz_json_t *j, const uint8_t *s, size_t n, int strict) {
  j->s = s;
  j->n = n;
  j->i = 0;
  j->strict = strict;
  j->depth = 0;
  fz_ws(j);
  if (!fz_value(j)) return 0;
  fz_ws(j);
  return j->i == j->n;
}

/* A non-negative JSON integer as u64 (saturating); floats are floored. */
static uint64_t fz_u64(const uint8_t *v, size_t len) {
  uint64_t x = 0;
  for (size_t i = 0; i < len && v[i] >= '0' && v[i] <= '9'; i++) {
    uint64_t d = (uint64_t)(v[i] - '0');
    x = x > (UINT64_MAX - d) / 10 ? UINT64_MAX : x * 10 + d;
  }
  return x;
}

static int fz_str_is(const uint8_t *v, size_t len, const char *want) {
  return len == strlen(want) && memcmp(v, want, len) == 0;
}

/* ---- the core and what we know about it ----------------------------------------------------- */

enum { FZ_PROCESS = 0, FZ_NETWORK = 1, FZ_BASELINE = 2 };
enum { FZ_RECEIVED, FZ_SENT, FZ_DISCARDED, FZ_DROPPED, FZ_IGNORED, FZ_COUNTERS };
enum { FZ_LINES, FZ_ACCEPTED, FZ_SKIPPED, FZ_BLANK, FZ_MESSAGES, FZ_EVENTS, FZ_BYTES, FZ_TOP };

typedef struct fz_stats {
  uint64_t top[FZ_TOP];
  uint64_t c[2][FZ_COUNTERS];
  uint64_t baseline_dropped;
  int seen; /* fields found */
} fz_stats_t;

#define FZ_MAX_MESSAGE 262144u /* SPEC R6: the largest maxMessageBytes */
#define FZ_LIMIT_UNKNOWN 0u

static struct {
  mt_core_t cores[2];
  int ready[2];
  int linux;
  mt_core_t *core;
  uint32_t limit; /* maxMessageBytes in force */
  int drain_mode; /* 0 chunks, 1 whole messages in a maxMessageBytes buffer, 2 small buffer */
  size_t small_cap;
  /* What the drains took since the last reset. */
  uint64_t hits[2];
  uint64_t cs[3][FZ_COUNTERS]; /* CollectorStats sums (SENT unused): process, network, baseline */
  uint64_t messages, events, bytes;
  int blind;            /* a message was discarded (too large for the small buffer): no sums */
  fz_stats_t last;      /* mt_stats after the last completed drain */
  uint64_t call_empty;  /* IsEmpty events drained after the current input call */
  jmp_buf bail;         /* back to the target's entry: the input is abandoned (fz_abandon) */
  uint64_t output_hash; /* FNV-1a of all messages, newline-separated */
  size_t calls;
} fz;

static uint8_t fz_msg[FZ_MAX_MESSAGE + 1];

static void fz_stats_scalar(fz_json_t *j, char type, const uint8_t *v, size_t len) {
  static const char *const top[FZ_TOP] = {"lines",    "accepted", "skipped", "blank",
                                          "messages", "events",   "bytes"};
  static const char *const cnt[FZ_COUNTERS] = {"received", "sent", "discarded", "dropped",
                                               "ignored"};
  fz_stats_t *st = (fz_stats_t *)j->user;
  if (type != 'n') return;
  if (j->depth == 1) {
    for (int k = 0; k < FZ_TOP; k++) {
      if (fz_str_is(j->key[0], j->key_len[0], top[k])) {
        st->top[k] = fz_u64(v, len);
        st->seen++;
      }
    }
  } else if (j->depth == 2) {
    int c = fz_str_is(j->key[0], j->key_len[0], "process")   ? 0
            : fz_str_is(j->key[0], j->key_len[0], "network") ? 1
                                                             : -1;
    if (c >= 0) {
      for (int k = 0; k < FZ_COUNTERS; k++) {
        if (fz_str_is(j->key[1], j->key_len[1], cnt[k])) {
          st->c[c][k] = fz_u64(v, len);
          st->seen++;
        }
      }
    } else if (fz_str_is(j->key[0], j->key_len[0], "baseline") &&
               fz_str_is(j->key[1], j->key_len[1], "dropped")) {
      st->baseline_dropped = fz_u64(v, len);
      st->seen++;
    }
  }
}

/* mt_stats into *out; returns the status (MT_OK or MT_BUSY; anything else fails the check). */
static mt_status_t fz_stats(fz_stats_t *out) {
  const char *json;
  size_t len;
  fz_json_t j;
  mt_status_t st = mt_stats(fz.core, &json, &len);
  FZ_CHECK(st == MT_OK || st == MT_BUSY, "mt_stats gave %s", mt_status_name(st));
  if (st != MT_OK) return st;
  memset(out, 0, sizeof *out);
  memset(&j, 0, sizeof j);
  j.on_scalar = fz_stats_scalar;
  j.user = out;
  FZ_CHECK(fz_json_parse(&j, (const uint8_t *)json, len, 1), "stats not JSON: %.*s", (int)len,
           json);
  FZ_CHECK(out->seen == FZ_TOP + 2 * FZ_COUNTERS + 1, "stats lack fields: %.*s", (int)len, json);
  return st;
}

static void fz_conservation(const fz_stats_t *s, int finished) {
  for (int c = 0; c < 2; c++) {
    const uint64_t *v = s->c[c];
    uint64_t out = v[FZ_SENT] + v[FZ_DISCARDED] + v[FZ_DROPPED] + v[FZ_IGNORED];
    FZ_CHECK(finished ? v[FZ_RECEIVED] == out : v[FZ_RECEIVED] >= out,
             "%s: received %llu, sent %llu + discarded %llu + dropped %llu + ignored %llu%s",
             c ? "network" : "process", (unsigned long long)v[FZ_RECEIVED],
             (unsigned long long)v[FZ_SENT], (unsigned long long)v[FZ_DISCARDED],
             (unsigned long long)v[FZ_DROPPED], (unsigned long long)v[FZ_IGNORED],
             finished ? " after mt_finish" : "");
    if (!fz.blind) {
      FZ_CHECK(fz.hits[c] == v[FZ_SENT], "%s: HitCounts drained %llu, stats sent %llu",
               c ? "network" : "process", (unsigned long long)fz.hits[c],
               (unsigned long long)v[FZ_SENT]);
      for (int k = FZ_RECEIVED; k < FZ_COUNTERS; k++) {
        if (k == FZ_SENT) continue;
        /* Each window's CollectorStats carries that window's counters: after the last
                 * window closed their sum is the run total, before it at most that. */
        FZ_CHECK(finished ? fz.cs[c][k] == v[k] : fz.cs[c][k] <= v[k],
                 "%s: CollectorStats counter %d sums to %llu, stats say %llu",
                 c ? "network" : "process", k, (unsigned long long)fz.cs[c][k],
                 (unsigned long long)v[k]);
      }
    }
  }
  /* Baseline's window records sum to the run's dropped results in mt_stats. */
  if (!fz.blind) {
    FZ_CHECK(finished ? fz.cs[FZ_BASELINE][FZ_DROPPED] == s->baseline_dropped
                      : fz.cs[FZ_BASELINE][FZ_DROPPED] <= s->baseline_dropped,
             "baseline: CollectorStats Dropped sums to %llu, stats say %llu",
             (unsigned long long)fz.cs[FZ_BASELINE][FZ_DROPPED],
             (unsigned long long)s->baseline_dropped);
  }
  FZ_CHECK(s->top[FZ_MESSAGES] == fz.messages, "stats messages %llu, drained %llu",
           (unsigned long long)s->top[FZ_MESSAGES], (unsigned long long)fz.messages);
  FZ_CHECK(s->top[FZ_BYTES] == fz.bytes, "stats bytes %llu, drained %llu",
           (unsigned long long)s->top[FZ_BYTES], (unsigned long long)fz.bytes);
  if (!fz.blind) {
    FZ_CHECK(s->top[FZ_EVENTS] == fz.events, "stats events %llu, drained %llu",
             (unsigned long long)s->top[FZ_EVENTS], (unsigned long long)fz.events);
  }
}

/*
 * Known issues, named in the environment variable FUZZ_KNOWN (comma-separated), are tolerated so
 * that fuzzing can look past them; scripts/fuzz.sh sets it while fuzzing and replays
 * test/fuzz/regressions/ without it, so each stays a failing check until it is fixed.
 *   empty-pending: after an input that starts a send with nothing to send (mt_finish or a
 *   configuration change on empty windows), the core says pending (MT_BUSY) although the drain
 *   yields no message.
 *   empty-windows-run: with sendEmptyWindows, every elapsed empty window is its own IsEmpty
 *   event (SPEC R5 wants one per run, "Windows": N), so output and time grow with the jump in
 *   time (1 s windows and a one-day tick: 259,203 events, 68 MB). Tolerated, an input is
 *   abandoned once one call has drained 200 of them.
 */
static int fz_known(const char *name) {
  const char *k = getenv("FUZZ_KNOWN");
  size_t l = strlen(name);
  while (k != NULL && *k != '\0') {
    const char *comma = strchr(k, ',');
    size_t n = comma != NULL ? (size_t)(comma - k) : strlen(k);
    if (n == l && memcmp(k, name, l) == 0) return 1;
    k = comma != NULL ? comma + 1 : NULL;
  }
  return 0;
}

/* An input not worth finishing (a known issue would only make it slow): back to the target. */
static void fz_abandon(void) { longjmp(fz.bail, 1); }

/* ---- one message ----------------------------------------------------------------------------- */

typedef struct fz_msg_sums {
  /* per event: its name's collector, its records' HitCounts and CollectorStats counters */
  int event_kind; /* 0 process, 1 network, 2 stats, -1 other */
  uint64_t ev_hits;
  uint64_t ev_cs[3][FZ_COUNTERS];
  int rec_collector; /* within a CollectorStats record */
  uint64_t rec_cs[FZ_COUNTERS];
  uint64_t hits[2];
  uint64_t cs[3][FZ_COUNTERS];
  uint64_t events;
  uint64_t empty_events; /* "IsEmpty": true */
  int events_array;
} fz_msg_sums_t;

static const char *const FZ_EVENTS_NAME[] = {"Events", "[]", "Name", NULL};
static const char *const FZ_EVENT[] = {"Events", "[]", NULL};
static const char *const FZ_RECORD[] = {"Events", "[]", "Payload", "[]", NULL};
static const char *const FZ_EVENTS_ARRAY[] = {"Events", NULL};
static const char *const FZ_IS_EMPTY[] = {"Events", "[]", "IsEmpty", NULL};

static void fz_msg_open(fz_json_t *j, char type) {
  fz_msg_sums_t *m = (fz_msg_sums_t *)j->user;
  if (type == '{' && fz_path_is(j, j->depth, FZ_EVENT)) {
    m->event_kind = -1;
    m->ev_hits = 0;
    memset(m->ev_cs, 0, sizeof m->ev_cs);
  } else if (type == '{' && fz_path_is(j, j->depth, FZ_RECORD)) {
    m->rec_collector = -1;
    memset(m->rec_cs, 0, sizeof m->rec_cs);
  } else if (type == '[' && fz_path_is(j, j->depth, FZ_EVENTS_ARRAY)) {
    m->events_array++;
  }
}

static void fz_msg_close(fz_json_t *j, char type) {
  fz_msg_sums_t *m = (fz_msg_sums_t *)j->user;
  if (type == '{' && fz_path_is(j, j->depth, FZ_RECORD)) {
    if (m->rec_collector >= 0) {
      for (int k = 0; k < FZ_COUNTERS; k++) m->ev_cs[m->rec_collector][k] += m->rec_cs[k];
    }
    /* Baseline keeps what it neither drops nor ignores, and evicts nothing (docs/FORMATS.md). */
    if (m->rec_collector == FZ_BASELINE) {
      FZ_CHECK(
          m->rec_cs[FZ_DISCARDED] == 0 &&
              m->rec_cs[FZ_RECEIVED] >= m->rec_cs[FZ_DROPPED] + m->rec_cs[FZ_IGNORED],
          "baseline CollectorStats: received %llu, discarded %llu, dropped %llu, ignored %llu",
          (unsigned long long)m->rec_cs[FZ_RECEIVED], (unsigned long long)m->rec_cs[FZ_DISCARDED],
          (unsigned long long)m->rec_cs[FZ_DROPPED], (unsigned long long)m->rec_cs[FZ_IGNORED]);
    }
  } else if (type == '{' && fz_path_is(j, j->depth, FZ_EVENT)) {
    m->events++;
    if (m->event_kind == 0 || m->event_kind == 1) m->hits[m->event_kind] += m->ev_hits;
    if (m->event_kind == 2) {
      for (int c = 0; c < 3; c++)
        for (int k = 0; k < FZ_COUNTERS; k++) m->cs[c][k] += m->ev_cs[c][k];
    }
  }
}

static void fz_msg_scalar(fz_json_t *j, char type, const uint8_t *v, size_t len) {
  static const char *const cs_keys[FZ_COUNTERS] = {"Received", "", "Discarded", "Dropped",
                                                   "Ignored"};
  fz_msg_sums_t *m = (fz_msg_sums_t *)j->user;
  if (type == 'l' && fz_str_is(v, len, "true") && fz_path_is(j, j->depth, FZ_IS_EMPTY)) {
    m->empty_events++;
    return;
  }
  if (type == 's' && fz_path_is(j, j->depth, FZ_EVENTS_NAME)) {
    m->event_kind = fz_str_is(v, len, "ProcessCreate")      ? 0
                    : fz_str_is(v, len, "ConnectionCreate") ? 1
                    : fz_str_is(v, len, "CollectorStats")   ? 2
                                                            : -1;
    return;
  }
  if (j->depth != 5 || !fz_path_is(j, 4, FZ_RECORD)) return;
  if (type == 'n' && fz_str_is(j->key[4], j->key_len[4], "HitCount")) {
    m->ev_hits += fz_u64(v, len);
  } else if (type == 's' && fz_str_is(j->key[4], j->key_len[4], "Collector")) {
    m->rec_collector = fz_str_is(v, len, "process")    ? 0
                       : fz_str_is(v, len, "network")  ? 1
                       : fz_str_is(v, len, "baseline") ? FZ_BASELINE
                                                       : -1;
  } else if (type == 'n') {
    for (int k = 0; k < FZ_COUNTERS; k++) {
      if (cs_keys[k][0] && fz_str_is(j->key[4], j->key_len[4], cs_keys[k]))
        m->rec_cs[k] = fz_u64(v, len);
    }
  }
}

static void fz_hash(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    fz.output_hash = (fz.output_hash ^ p[i]) * 1099511628211ull;
  }
}

static void fz_check_message(const uint8_t *msg, size_t len, uint32_t limit) {
  fz_json_t j;
  fz_msg_sums_t m;
  FZ_CHECK(len > 0 && len <= limit, "message of %zu bytes, maxMessageBytes %u", len,
           (unsigned)limit);
  FZ_CHECK(fz_utf8_ok(msg, len), "message is not valid UTF-8: %.*s", (int)(len > 2000 ? 2000 : len),
           (const char *)msg);
  memset(&j, 0, sizeof j);
  memset(&m, 0, sizeof m);
  j.on_scalar = fz_msg_scalar;
  j.on_open = fz_msg_open;
  j.on_close = fz_msg_close;
  j.user = &m;
  FZ_CHECK(msg[0] == '{' && fz_json_parse(&j, msg, len, 1),
           "message is not one JSON object (stopped at byte %zu): %.*s", j.i,
           (int)(len > 4000 ? 4000 : len), (const char *)msg);
  FZ_CHECK(m.events_array == 1 && m.events > 0, "message without events: %.*s",
           (int)(len > 2000 ? 2000 : len), (const char *)msg);
  fz.messages++;
  fz.bytes += len;
  fz.events += m.events;
  fz.call_empty += m.empty_events;
  /* SPEC R5: a run of consecutive empty windows of one collector is ONE IsEmpty event (with
     * "Windows": N), so one input yields at most one per collector (process, network, baseline,
     * system information), whatever the jump in time. */
  if (fz.call_empty > 4 && fz_known("empty-windows-run")) {
    if (fz.call_empty > 200) fz_abandon(); /* would run for as long as the jump is long */
  } else {
    FZ_CHECK(fz.call_empty <= 4,
             "%llu IsEmpty events for one input (known issue \"empty-windows-run\")",
             (unsigned long long)fz.call_empty);
  }
  for (int c = 0; c < 2; c++) fz.hits[c] += m.hits[c];
  for (int c = 0; c < 3; c++) {
    for (int k = 0; k < FZ_COUNTERS; k++) fz.cs[c][k] += m.cs[c][k];
  }
  fz_hash(msg, len);
  fz_hash((const uint8_t *)"\n", 1);
}

/* ---- draining --------------------------------------------------------------------------------- */

/* Takes everything pending; returns the number of messages. */
static size_t fz_drain(void) {
  size_t count = 0, have = 0;
  fz.call_empty = 0;
  for (;;) {
    if (fz.drain_mode == 0) {
      const uint8_t *data;
      size_t n;
      bool ends;
      mt_status_t st = mt_next_chunk(fz.core, &data, &n, &ends);
      if (st == MT_NO_MESSAGE) {
        FZ_CHECK(have == 0, "the drain ended inside a message (%zu bytes taken)", have);
        FZ_CHECK(data == NULL && n == 0, "MT_NO_MESSAGE with a chunk");
        break;
      }
      FZ_CHECK(st == MT_OK, "mt_next_chunk gave %s", mt_status_name(st));
      FZ_CHECK(n > 0 && data != NULL, "empty chunk");
      FZ_CHECK(have + n <= fz.limit, "message passes maxMessageBytes %u: %zu bytes so far",
               (unsigned)fz.limit, have + n);
      memcpy(fz_msg + have, data, n);
      have += n;
      if (!ends) {
        /* In the middle of a message: pending for sure, so everything is busy. */
        const char *json;
        size_t jl;
        FZ_CHECK(mt_stats(fz.core, &json, &jl) == MT_BUSY, "mt_stats not busy between chunks");
        FZ_CHECK(mt_tick(fz.core, INT64_MAX / 4) == MT_BUSY, "mt_tick not busy between chunks");
        FZ_CHECK(mt_ingest_line(fz.core, "{}", 2) == MT_BUSY,
                 "mt_ingest_line not busy between chunks");
        continue;
      }
      fz_check_message(fz_msg, have, fz.limit);
      have = 0;
      count++;
    } else {
      size_t cap = fz.drain_mode == 1 ? fz.limit : fz.small_cap;
      size_t n = 12345;
      mt_counters_t before, after;
      mt_status_t st;
      mt_get_counters(fz.core, &before);
      st = mt_next_message(fz.core, fz_msg, cap, &n);
      if (st == MT_NO_MESSAGE) {
        FZ_CHECK(n == 0, "MT_NO_MESSAGE with a length");
        break;
      }
      if (st == MT_ERR_BUFFER) {
        /* Not parsed, so its IsEmpty events are not counted: bound the messages instead
                 * (caches full of records split into the smallest messages take under 1,000). */
        if (count > 1500 && fz_known("empty-windows-run")) fz_abandon();
        mt_get_counters(fz.core, &after);
        FZ_CHECK(fz.drain_mode == 2,
                 "a buffer of maxMessageBytes (%zu) was too small for %zu bytes", cap, n);
        FZ_CHECK(n > cap && n <= fz.limit, "MT_ERR_BUFFER length %zu, buffer %zu, limit %u", n, cap,
                 (unsigned)fz.limit);
        FZ_CHECK(after.discarded_messages == before.discarded_messages + 1,
                 "discarded message not counted");
        fz.blind = 1;
        fz.messages++;
        fz.bytes += n;
        count++;
        continue;
      }
      FZ_CHECK(st == MT_OK, "mt_next_message gave %s", mt_status_name(st));
      FZ_CHECK(n <= cap, "mt_next_message: %zu bytes in a buffer of %zu", n, cap);
      fz_check_message(fz_msg, n, fz.limit);
      count++;
    }
  }
  return count;
}

/* ---- configuration tracking ---------------------------------------------------------------- */

typedef struct fz_cfg_scan {
  int line; /* a trace line: look under "config", and only when kind is "config" */
  int is_config;
  int found;
  uint64_t max_message;
} fz_cfg_scan_t;

static void fz_cfg_scalar(fz_json_t *j, char type, const uint8_t *v, size_t len) {
  fz_cfg_scan_t *c = (fz_cfg_scan_t *)j->user;
  if (c->line && j->depth == 1 && type == 's' && fz_str_is(j->key[0], j->key_len[0], "kind")) {
    c->is_config = fz_str_is(v, len, "config");
  }
  if (type != 'n') return;
  if ((!c->line && j->depth == 1 && fz_str_is(j->key[0], j->key_len[0], "maxMessageBytes")) ||
      (c->line && j->depth == 2 && fz_str_is(j->key[0], j->key_len[0], "config") &&
       fz_str_is(j->key[1], j->key_len[1], "maxMessageBytes"))) {
    char tmp[64];
    size_t l = len < sizeof tmp - 1 ? len : sizeof tmp - 1;
    memcpy(tmp, v, l);
    tmp[l] = '\0';
    c->found = 1;
    c->max_message = (uint64_t)strtod(tmp, NULL); /* the last one wins, as in the core */
  }
}

/* An accepted configuration (a JSON update, or a trace line): the maxMessageBytes now in force. */
static void fz_note_config(const uint8_t *json, size_t len, int line) {
  fz_json_t j;
  fz_cfg_scan_t c;
  memset(&j, 0, sizeof j);
  memset(&c, 0, sizeof c);
  c.line = line;
  j.on_scalar = fz_cfg_scalar;
  j.user = &c;
  while (len > 0 && json[len - 1] == '\r') len--; /* a trailing CR is not part of a line */
  FZ_CHECK(fz_json_parse(&j, json, len, 0), "the core accepted input that is not JSON: %.*s",
           (int)(len > 2000 ? 2000 : len), (const char *)json);
  if ((!line || c.is_config) && c.found) {
    FZ_CHECK(c.max_message >= 1024 && c.max_message <= FZ_MAX_MESSAGE,
             "accepted maxMessageBytes %llu", (unsigned long long)c.max_message);
    fz.limit = (uint32_t)c.max_message;
  }
}

/* ---- the calls --------------------------------------------------------------------------------- */

static void fz_same_but_lines(const fz_stats_t *now, const char *what) {
  FZ_CHECK(memcmp(now->c, fz.last.c, sizeof now->c) == 0 &&
               now->baseline_dropped == fz.last.baseline_dropped &&
               now->top[FZ_ACCEPTED] == fz.last.top[FZ_ACCEPTED] &&
               now->top[FZ_MESSAGES] == fz.last.top[FZ_MESSAGES] &&
               now->top[FZ_EVENTS] == fz.last.top[FZ_EVENTS] &&
               now->top[FZ_BYTES] == fz.last.top[FZ_BYTES],
           "%s changed the core's counters", what);
  FZ_CHECK(now->top[FZ_LINES] <= fz.last.top[FZ_LINES] + 1 &&
               now->top[FZ_SKIPPED] <= fz.last.top[FZ_SKIPPED] + 1 &&
               now->top[FZ_BLANK] <= fz.last.top[FZ_BLANK] + 1,
           "%s moved the line counters by more than one", what);
}

/*
 * After every input call: checks its status and drains. `config`/`config_len` is the input when
 * it may change the configuration (a configure call: line = 0; a trace line: line = 1).
 * Returns the status.
 */
static mt_status_t fz_after(mt_status_t st, const char *what, const uint8_t *config,
                            size_t config_len, int line) {
  fz_stats_t now;
  uint32_t next_limit = fz.limit;
  fz.calls++;
  FZ_CHECK(st != MT_ERR_TRAP && st != MT_ERR_ENGINE && st != MT_ERR_STATE, "%s gave %s", what,
           mt_status_name(st));
  FZ_CHECK(st != MT_BUSY, "%s gave MT_BUSY with nothing pending", what);
  if (st == MT_SKIPPED || st == MT_BLANK) {
    const uint8_t *data;
    size_t n;
    bool ends;
    if (st == MT_SKIPPED) {
      const char *text;
      size_t len;
      FZ_CHECK(mt_last_error(fz.core, &text, &len) == MT_OK, "mt_last_error failed");
      FZ_CHECK(len > 0 && fz_utf8_ok((const uint8_t *)text, len),
               "%s: reason empty or not UTF-8: %.*s", what, (int)len, text);
    }
    FZ_CHECK(mt_next_chunk(fz.core, &data, &n, &ends) == MT_NO_MESSAGE,
             "%s gave %s and left messages pending", what, mt_status_name(st));
    FZ_CHECK(fz_stats(&now) == MT_OK, "stats busy after %s", mt_status_name(st));
    fz_same_but_lines(&now, what);
    fz.last = now;
    return st;
  }
  if (st != MT_OK) {
    return st; /* MT_ERR_PARAM: the target decides whether it was expected */
  }
  if (config != NULL) {
    uint32_t old = fz.limit;
    fz_note_config(config, config_len, line);
    next_limit = fz.limit;
    fz.limit = old; /* what is sent before the change is sent under the old configuration */
  }
  {
    mt_status_t busy = fz_stats(&now);
    size_t n = fz_drain();
    FZ_CHECK(busy == MT_BUSY || n == 0, "%s: messages were pending, mt_stats said %s", what,
             mt_status_name(busy));
    FZ_CHECK(busy != MT_BUSY || n > 0 || fz_known("empty-pending"),
             "%s: mt_stats said MT_BUSY, the drain took 0 messages (known issue \"empty-pending\")",
             what);
  }
  fz.limit = next_limit;
  FZ_CHECK(fz_stats(&now) == MT_OK, "busy after a complete drain");
  fz_conservation(&now, 0);
  fz.last = now;
  return st;
}

/* mt_finish, its drain, and the checks that hold once everything was sent. */
static void fz_finish(void) {
  fz_stats_t now;
  fz_after(mt_finish(fz.core), "mt_finish", NULL, 0, 0);
  FZ_CHECK(fz_stats(&now) == MT_OK, "busy after finish");
  fz_conservation(&now, 1);
  /* A second finish has nothing left to send. */
  FZ_CHECK(mt_finish(fz.core) == MT_OK, "second mt_finish");
  FZ_CHECK(fz_drain() == 0, "a second mt_finish sent messages");
}

/* With FUZZ_HASH set, one line per input on stderr: what the drains took (scripts/fuzz.sh
 * compares these lines between the engines: the same input gives the same bytes, SPEC R9). */
static void fz_report(void) {
  static int on = -1;
  if (on < 0) on = getenv("FUZZ_HASH") != NULL;
  if (on) {
    fprintf(stderr, "output %016llx messages %llu bytes %llu calls %zu\n",
            (unsigned long long)fz.output_hash, (unsigned long long)fz.messages,
            (unsigned long long)fz.bytes, fz.calls);
  }
}

/* Selects the core of a profile (init once, reset per input) and the drain mode. */
static void fz_begin(int linux, uint8_t options) {
  static const char id[] = "0123abcd-4567-89ef-0123-456789abcdef";
  mt_counters_t counters;
  fz.linux = linux ? 1 : 0;
  fz.core = &fz.cores[fz.linux];
  if (!fz.ready[fz.linux]) {
    mt_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.blob = fz.linux ? microtally_linux_wasm : microtally_rtos_wasm;
    cfg.blob_size = fz.linux ? microtally_linux_wasm_len : microtally_rtos_wasm_len;
    cfg.memory_limit = fz.linux ? microtally_linux_memory_end : microtally_rtos_memory_end;
    FZ_CHECK(mt_init(fz.core, &cfg) == MT_OK, "mt_init");
    FZ_CHECK(mt_set_agent_id(fz.core, id, 36) == MT_OK, "mt_set_agent_id");
    fz.ready[fz.linux] = 1;
  } else {
    FZ_CHECK(mt_reset(fz.core) == MT_OK, "mt_reset");
  }
  FZ_CHECK(mt_get_counters(fz.core, &counters) == MT_OK && counters.traps == 0,
           "the core trapped before");
  fz.limit = fz.linux ? 65536u : 4096u;
  fz.drain_mode = (options & 3) == 3 ? 2 : (options & 3) == 2 ? 1 : 0;
  fz.small_cap = (size_t)256 << ((options >> 2) & 7); /* 256 B .. 32 KiB */
  memset(fz.hits, 0, sizeof fz.hits);
  memset(fz.cs, 0, sizeof fz.cs);
  fz.messages = fz.events = fz.bytes = 0;
  fz.blind = 0;
  fz.output_hash = 14695981039346656037ull;
  fz.calls = 0;
  FZ_CHECK(fz_stats(&fz.last) == MT_OK, "stats after reset");
  FZ_CHECK(fz.last.top[FZ_LINES] == 0 && fz.last.top[FZ_MESSAGES] == 0, "mt_reset left counters");
}

/* Starts one input: profile and drain mode from its first byte. A macro, since an input that
 * is abandoned (fz_abandon) longjmps back to the target's own frame: it reports what it sent
 * so far and returns. */
#define FZ_START(data, size)                            \
  do {                                                  \
    if ((size) < 1) {                                   \
      return 0;                                         \
    }                                                   \
    fz_begin((data)[0] & 1, (uint8_t)((data)[0] >> 1)); \
    if (setjmp(fz.bail) != 0) {                         \
      fz_report();                                      \
      return 0;                                         \
    }                                                   \
  } while (0)

#endif /* MT_FUZZ_COMMON_H */
