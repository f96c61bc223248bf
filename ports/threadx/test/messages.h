/* Reading the agent's messages in tests: a strict JSON checker and small record lookups.
 * Shared by test_agent.c (test double) and real/test_real.c (real ThreadX and NetX Duo). */
#ifndef MT_TEST_MESSAGES_H
#define MT_TEST_MESSAGES_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a strict JSON checker (RFC 8259 grammar) ----------------------------------------- */

typedef struct {
  const char *p, *end;
} json_cursor;

static inline void json_ws(json_cursor *c) {
  while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

static inline int json_string(json_cursor *c) {
  if (c->p >= c->end || *c->p != '"') return 0;
  for (c->p++; c->p < c->end; c->p++) {
    unsigned char ch = (unsigned char)*c->p;
    if (ch == '"') {
      c->p++;
      return 1;
    }
    if (ch < 0x20) return 0;
    if (ch == '\\') {
      if (++c->p >= c->end) return 0;
      if (*c->p == 'u') {
        for (int i = 0; i < 4; i++) {
          if (++c->p >= c->end || !strchr("0123456789abcdefABCDEF", *c->p)) return 0;
        }
      } else if (!strchr("\"\\/bfnrt", *c->p)) {
        return 0;
      }
    }
  }
  return 0;
}

static inline int json_digits(json_cursor *c) {
  const char *start = c->p;
  while (c->p < c->end && *c->p >= '0' && *c->p <= '9') c->p++;
  return c->p > start;
}

static inline int json_number(json_cursor *c) {
  if (c->p < c->end && *c->p == '-') c->p++;
  if (c->p < c->end && *c->p == '0') {
    c->p++;
  } else if (!json_digits(c)) {
    return 0;
  }
  if (c->p < c->end && *c->p == '.') {
    c->p++;
    if (!json_digits(c)) return 0;
  }
  if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
    c->p++;
    if (c->p < c->end && (*c->p == '+' || *c->p == '-')) c->p++;
    if (!json_digits(c)) return 0;
  }
  return 1;
}

static inline int json_value(json_cursor *c, int depth);

static inline int json_members(json_cursor *c, int depth, char close, int keyed) {
  c->p++;
  json_ws(c);
  if (c->p < c->end && *c->p == close) {
    c->p++;
    return 1;
  }
  for (;;) {
    if (keyed) {
      if (!json_string(c)) return 0;
      json_ws(c);
      if (c->p >= c->end || *c->p != ':') return 0;
      c->p++;
    }
    if (!json_value(c, depth + 1)) return 0;
    json_ws(c);
    if (c->p >= c->end) return 0;
    if (*c->p == close) {
      c->p++;
      return 1;
    }
    if (*c->p != ',') return 0;
    c->p++;
    json_ws(c);
  }
}

static inline int json_literal(json_cursor *c, const char *word) {
  size_t n = strlen(word);
  if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0) return 0;
  c->p += n;
  return 1;
}

static inline int json_value(json_cursor *c, int depth) {
  if (depth > 32) return 0;
  json_ws(c);
  if (c->p >= c->end) return 0;
  switch (*c->p) {
    case '{':
      return json_members(c, depth, '}', 1);
    case '[':
      return json_members(c, depth, ']', 0);
    case '"':
      return json_string(c);
    case 't':
      return json_literal(c, "true");
    case 'f':
      return json_literal(c, "false");
    case 'n':
      return json_literal(c, "null");
    default:
      return json_number(c);
  }
}

/* One JSON object and nothing else (SPEC R8: a message is one object, no newline). */
static inline int json_object(const char *text, size_t len) {
  json_cursor c = {text, text + len};
  if (len == 0 || text[0] != '{') return 0;
  return json_value(&c, 0) && c.p == c.end;
}

/* ---- reading the messages -------------------------------------------------------------- */

/* The integer after `key` in the record of `msg` that contains `anchor`; -1 if absent. */
static inline long long record_number(const char *msg, const char *anchor, const char *key) {
  const char *record = strstr(msg, anchor);
  if (record == NULL) return -1;
  const char *record_end = strchr(record, '}');
  const char *at = strstr(record, key);
  if (at == NULL || (record_end != NULL && at > record_end)) return -1;
  return strtoll(at + strlen(key), NULL, 10);
}

/* The string after `key` in the record containing `anchor`, copied to out; 0 if absent. */
static inline int record_text(const char *msg, const char *anchor, const char *key, char *out,
                              size_t cap) {
  const char *record = strstr(msg, anchor);
  if (record == NULL) return 0;
  const char *at = strstr(record, key);
  const char *record_end = strchr(record, '}');
  if (at == NULL || (record_end != NULL && at > record_end)) return 0;
  at += strlen(key);
  const char *close = strchr(at, '"');
  if (close == NULL || (size_t)(close - at) >= cap) return 0;
  memcpy(out, at, (size_t)(close - at));
  out[close - at] = '\0';
  return 1;
}

static inline long long sum_of(const char *msg, const char *key) {
  long long sum = 0;
  for (const char *at = strstr(msg, key); at != NULL; at = strstr(at + 1, key)) {
    sum += strtoll(at + strlen(key), NULL, 10);
  }
  return sum;
}

static inline unsigned occurrences(const char *msg, const char *needle) {
  unsigned n = 0;
  for (const char *at = strstr(msg, needle); at != NULL; at = strstr(at + 1, needle)) n++;
  return n;
}

/* ms since the epoch as the core prints it (ISO 8601, UTC, milliseconds). */
static inline void iso8601(int64_t ms, char out[64]) {
  int64_t days = ms / 86400000, in_day = ms % 86400000;
  /* Gregorian date from a day count, in 400-year eras starting on 0000-03-01. */
  int64_t z = days + 719468;
  int64_t era = z / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int64_t day = doy - (153 * mp + 2) / 5 + 1;
  int64_t month = mp < 10 ? mp + 3 : mp - 9;
  int64_t year = yoe + era * 400 + (month <= 2);
  snprintf(out, 64,
           "%04" PRId64 "-%02" PRId64 "-%02" PRId64 "T%02" PRId64 ":%02" PRId64 ":%02" PRId64
           ".%03" PRId64 "Z",
           year, month, day, in_day / 3600000, in_day / 60000 % 60, in_day / 1000 % 60,
           in_day % 1000);
}

#endif
