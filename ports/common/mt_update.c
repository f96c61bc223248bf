/*
 * mt_update.c — a signed core update package, streamed into a staging slot (mt_update.h).
 * The checks and their reasons follow docs/UPDATE.md ("Refusals") in the same order as
 * `microtally verify`, so a device refuses what the host refuses, for the same reason.
 */
#include "mt_update.h"

#include <string.h>

enum { PHASE_IDLE, PHASE_ENVELOPE, PHASE_BLOB_HEAD, PHASE_BLOB, PHASE_DONE };

/* The P-256 SubjectPublicKeyInfo DER before the 65-byte point: the key id hashes both. */
static const uint8_t spki_p256_prefix[26] = {0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48,
                                             0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
                                             0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00};

/* ---- one-line reasons, without printf (newlib-nano has no 64-bit conversions) ---- */

typedef struct {
  char *p;
  size_t size, len;
} line_t;

static void put_str(line_t *l, const char *s) {
  while (*s && l->len + 1 < l->size) l->p[l->len++] = *s++;
  l->p[l->len] = 0;
}

static void put_u64(line_t *l, uint64_t v) {
  char digits[21];
  int n = 0;
  do {
    digits[n++] = (char)('0' + v % 10u);
    v /= 10u;
  } while (v);
  char s[21];
  for (int i = 0; i < n; i++) s[i] = digits[n - 1 - i];
  s[n] = 0;
  put_str(l, s);
}

void mt_update_hex(const uint8_t *bytes, size_t n, char *out) {
  static const char x[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = x[bytes[i] >> 4];
    out[2 * i + 1] = x[bytes[i] & 15u];
  }
  out[2 * n] = 0;
}

/* Ends the transfer with a reason made of up to three parts and numbers between them. */
static int refuse(mt_update_t *u, const char *a) {
  line_t l = {u->reason, sizeof u->reason, 0};
  put_str(&l, a);
  u->phase = PHASE_IDLE;
  return MT_UPDATE_REFUSED;
}

static line_t reason_line(mt_update_t *u) {
  line_t l = {u->reason, sizeof u->reason, 0};
  u->reason[0] = 0;
  return l;
}

/* ---- a bounded CBOR reader: what host/update/cbor.ts accepts, nothing else ---- */

enum { CB_OK, CB_SHORT, CB_BAD };
#define CB_MAX_DEPTH 8u
#define CB_MAX_INT 0x1fffffffffffffull /* 2^53 - 1: what the host reads exactly */

typedef struct {
  const uint8_t *b;
  uint32_t n, at;
  const char *why; /* CB_BAD's reason */
  /* CB_SHORT's place, as verify words it: 'i' an item expected at short_at, 'h' a head at
     short_at needing short_need more bytes, 's' a string of short_need bytes at short_at */
  char short_kind;
  uint32_t short_at;
  uint64_t short_need;
} cbr_t;

static int cb_short(cbr_t *r, char kind, uint32_t at, uint64_t need) {
  r->short_kind = kind;
  r->short_at = at;
  r->short_need = need;
  return CB_SHORT;
}

static int cb_head(cbr_t *r, unsigned *major, uint64_t *arg) {
  if (r->at >= r->n) return cb_short(r, 'i', r->at, 0);
  uint8_t ib = r->b[r->at];
  unsigned info = ib & 31u;
  *major = ib >> 5;
  if (*major == 7u) return r->why = "a float or simple value, not used by a package", CB_BAD;
  if (info < 24u) {
    *arg = info;
    r->at++;
    return CB_OK;
  }
  if (info > 27u)
    return r->why = "indefinite length or reserved head, not used by a package", CB_BAD;
  uint32_t len = 1u << (info - 24u);
  if (r->n - r->at - 1u < len) return cb_short(r, 'h', r->at, len);
  uint64_t v = 0;
  for (uint32_t i = 0; i < len; i++) v = v << 8 | r->b[r->at + 1u + i];
  if (v > CB_MAX_INT) return r->why = "integer past 2^53", CB_BAD;
  uint64_t least = info == 24u ? 24u : (uint64_t)1 << (8u * (len >> 1));
  if (v < least) return r->why = "integer head longer than needed", CB_BAD;
  *arg = v;
  r->at += 1u + len;
  return CB_OK;
}

/* Strict UTF-8 (as TextDecoder's fatal mode): no overlong forms, surrogates or past U+10FFFF. */
static int utf8_ok(const uint8_t *s, uint32_t n, uint32_t *utf16_units) {
  uint32_t i = 0, units = 0;
  while (i < n) {
    uint8_t c = s[i];
    uint32_t more, cp;
    if (c < 0x80u) {
      i++;
      units++;
      continue;
    }
    if (c >= 0xc2u && c <= 0xdfu)
      more = 1, cp = c & 0x1fu;
    else if (c >= 0xe0u && c <= 0xefu)
      more = 2, cp = c & 0x0fu;
    else if (c >= 0xf0u && c <= 0xf4u)
      more = 3, cp = c & 0x07u;
    else
      return 0;
    if (n - i - 1u < more) return 0;
    for (uint32_t k = 1; k <= more; k++) {
      if ((s[i + k] & 0xc0u) != 0x80u) return 0;
      cp = cp << 6 | (s[i + k] & 0x3fu);
    }
    if ((more == 2 && (cp < 0x800u || (cp >= 0xd800u && cp <= 0xdfffu))) ||
        (more == 3 && (cp < 0x10000u || cp > 0x10ffffu)))
      return 0;
    units += cp >= 0x10000u ? 2u : 1u;
    i += more + 1u;
  }
  if (utf16_units) *utf16_units = units;
  return 1;
}

/* One whole item from r->at: checks it and moves past it. */
static int cb_walk(cbr_t *r, unsigned depth) {
  unsigned major;
  uint64_t arg;
  if (depth > CB_MAX_DEPTH) return r->why = "nested deeper than 8 levels", CB_BAD;
  uint32_t head_at = r->at;
  int rc = cb_head(r, &major, &arg);
  if (rc != CB_OK) return rc;
  switch (major) {
    case 0:
    case 1:
      return CB_OK;
    case 2:
    case 3:
      if (r->n - r->at < arg) return cb_short(r, 's', head_at, arg);
      if (major == 3u && !utf8_ok(r->b + r->at, (uint32_t)arg, NULL))
        return r->why = "text string is not UTF-8", CB_BAD;
      r->at += (uint32_t)arg;
      return CB_OK;
    case 4:
      for (uint64_t i = 0; i < arg; i++)
        if ((rc = cb_walk(r, depth + 1u)) != CB_OK) return rc;
      return CB_OK;
    case 5: {
      unsigned last_major = 0;
      uint64_t last = 0;
      for (uint64_t i = 0; i < arg; i++) {
        unsigned km;
        uint64_t k;
        if ((rc = cb_head(r, &km, &k)) != CB_OK) return rc;
        if (km > 1u) return r->why = "map key is not an integer", CB_BAD;
        /* deterministic order of integer keys: 0, 1, …, then -1, -2, …; equal is a repeat */
        if (i > 0 && (km < last_major || (km == last_major && k <= last)))
          return r->why = (km == last_major && k == last)
                              ? "map key given twice"
                              : "map key out of the deterministic order",
                 CB_BAD;
        last_major = km;
        last = k;
        if ((rc = cb_walk(r, depth + 1u)) != CB_OK) return rc;
      }
      return CB_OK;
    }
    default: /* 6: tag */
      return cb_walk(r, depth + 1u);
  }
}

/* Checks `n` bytes as one item; returns CB_* and its length. */
static int cb_item(const uint8_t *b, uint32_t n, uint32_t *length, const char **why) {
  cbr_t r = {b, n, 0, NULL, 0, 0, 0};
  int rc = cb_walk(&r, 0);
  *length = r.at;
  *why = r.why;
  return rc;
}

/* ---- the state record ---- */

#define STATE_MAGIC 0x5055544du /* "MTUP" */
#define STATE_LAYOUT 1u
#define IMAGE_BYTES 152u

static void le_put(uint8_t *p, uint64_t v, unsigned bytes) {
  for (unsigned i = 0; i < bytes; i++) p[i] = (uint8_t)(v >> (8u * i));
}

static uint64_t le_get(const uint8_t *p, unsigned bytes) {
  uint64_t v = 0;
  for (unsigned i = bytes; i-- > 0;) v = v << 8 | p[i];
  return v;
}

static uint32_t fnv1a(const uint8_t *p, uint32_t n) {
  uint32_t h = 2166136261u;
  for (uint32_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
  return h;
}

static void image_put(uint8_t *p, const mt_update_image_t *m) {
  size_t vl = strlen(m->agent_version);
  le_put(p, (uint32_t)m->slot, 4);
  le_put(p + 4, m->blob_size, 4);
  le_put(p + 8, m->sequence, 8);
  memcpy(p + 16, m->blob_sha256, 32);
  memcpy(p + 48, m->self_test_sha256, 32);
  p[80] = (uint8_t)vl;
  memcpy(p + 81, m->agent_version, vl);
}

static int image_get(const uint8_t *p, mt_update_image_t *m, uint32_t slot_bytes) {
  memset(m, 0, sizeof *m);
  m->slot = (int32_t)(uint32_t)le_get(p, 4);
  m->blob_size = (uint32_t)le_get(p + 4, 4);
  m->sequence = le_get(p + 8, 8);
  memcpy(m->blob_sha256, p + 16, 32);
  memcpy(m->self_test_sha256, p + 48, 32);
  if (p[80] > MT_UPDATE_AGENT_VERSION_MAX || m->slot < -1 || m->slot > 1) return 0;
  if (m->slot != MT_UPDATE_BUILT_IN && m->blob_size > slot_bytes) return 0; /* read past the slot */
  memcpy(m->agent_version, p + 81, p[80]);
  return 1;
}

static void built_in(mt_update_image_t *m) {
  memset(m, 0, sizeof *m);
  m->slot = MT_UPDATE_BUILT_IN;
}

static int save_state(mt_update_t *u) {
  uint8_t rec[MT_UPDATE_STATE_BYTES];
  memset(rec, 0, sizeof rec);
  le_put(rec, STATE_MAGIC, 4);
  le_put(rec + 4, STATE_LAYOUT, 4);
  le_put(rec + 8, u->state.highest, 8);
  le_put(rec + 16, u->state.trial, 4);
  image_put(rec + 24, &u->state.running);
  image_put(rec + 24 + IMAGE_BYTES, &u->state.previous);
  image_put(rec + 24 + 2 * IMAGE_BYTES, &u->state.staged);
  le_put(rec + sizeof rec - 4, fnv1a(rec, sizeof rec - 4), 4);
  if (u->storage->save_state(u->storage->context, rec, sizeof rec) != 0) {
    line_t l = reason_line(u);
    put_str(&l, "storage: the state record could not be saved");
    return MT_UPDATE_STORAGE;
  }
  return MT_UPDATE_OK;
}

/* ---- opening, and the swap's bookkeeping ---- */

int mt_update_open(mt_update_t *u, const mt_update_storage_t *storage, const uint8_t *public_key,
                   const char *profile, uint32_t abi_version, int *rolled_back) {
  if (!u || !storage || !public_key || !profile || !storage->erase || !storage->write ||
      !storage->read_pointer || !storage->load_state || !storage->save_state)
    return MT_UPDATE_NULL;
  memset(u, 0, sizeof *u);
  if (rolled_back) *rolled_back = 0;
  u->storage = storage;
  u->public_key = public_key;
  u->profile = profile;
  u->abi_version = abi_version;
  u->slot = MT_UPDATE_BUILT_IN;
  mt_update_crypto_sha256_init(&u->blob_hash);
  mt_update_crypto_sha256_update(&u->blob_hash, spki_p256_prefix, sizeof spki_p256_prefix);
  mt_update_crypto_sha256_update(&u->blob_hash, public_key, 65);
  uint8_t digest[32];
  mt_update_crypto_sha256_final(&u->blob_hash, digest);
  memcpy(u->key_id, digest, 8);
  built_in(&u->state.running);
  built_in(&u->state.previous);
  built_in(&u->state.staged);
  built_in(&u->dropped);
  built_in(&u->rolled_back);

  uint8_t rec[MT_UPDATE_STATE_BYTES];
  int rc = storage->load_state(storage->context, rec, sizeof rec);
  if (rc == 1) return MT_UPDATE_OK;
  line_t l = reason_line(u);
  if (rc != 0) {
    put_str(&l, "storage: the state record could not be read");
    return MT_UPDATE_STORAGE;
  }
  mt_update_state_t s;
  if (le_get(rec, 4) != STATE_MAGIC || le_get(rec + 4, 4) != STATE_LAYOUT ||
      le_get(rec + sizeof rec - 4, 4) != fnv1a(rec, sizeof rec - 4) ||
      !image_get(rec + 24, &s.running, storage->slot_bytes) ||
      !image_get(rec + 24 + IMAGE_BYTES, &s.previous, storage->slot_bytes) ||
      !image_get(rec + 24 + 2 * IMAGE_BYTES, &s.staged, storage->slot_bytes) ||
      le_get(rec + 16, 4) > 1u) {
    put_str(&l, "storage: the state record is damaged (checksum or layout)");
    return MT_UPDATE_STORAGE;
  }
  s.highest = le_get(rec + 8, 8);
  s.trial = (uint32_t)le_get(rec + 16, 4);
  u->state = s;
  if (s.trial) {
    /* reset while a swap was on trial: what ran before it runs again */
    uint64_t failed = s.running.sequence;
    u->rolled_back = s.running;
    u->state.running = s.previous;
    built_in(&u->state.previous);
    u->state.trial = 0;
    if ((rc = save_state(u)) != MT_UPDATE_OK) return rc;
    if (rolled_back) *rolled_back = 1;
    l = reason_line(u);
    put_str(&l, MT_UPDATE_RESET_REASON);
    put_u64(&l, failed);
  }
  if (u->state.staged.slot != MT_UPDATE_BUILT_IN) {
    /* reset between the commit and the swap: nothing would ever swap it in, and it would block
       every transfer; dropped (as the Linux agent does), the next transfer may bring it again */
    u->dropped = u->state.staged;
    built_in(&u->state.staged);
    if ((rc = save_state(u)) != MT_UPDATE_OK) return rc;
    if (!s.trial) {
      l = reason_line(u);
      put_str(&l, MT_UPDATE_DROPPED_REASON);
    }
  }
  return MT_UPDATE_OK;
}

int mt_update_set_built_in_sequence(mt_update_t *u, uint64_t sequence) {
  if (!u || !u->storage) return MT_UPDATE_NULL;
  if (u->state.running.slot != MT_UPDATE_BUILT_IN || u->state.staged.slot != MT_UPDATE_BUILT_IN ||
      u->state.trial || u->state.highest > sequence)
    return MT_UPDATE_STATE;
  u->state.highest = sequence;
  u->state.running.sequence = sequence;
  return save_state(u);
}

const uint8_t *mt_update_running_blob(const mt_update_t *u, uint32_t *length) {
  if (!u || u->state.running.slot == MT_UPDATE_BUILT_IN) return NULL;
  if (length) *length = u->state.running.blob_size;
  return u->storage->read_pointer(u->storage->context, u->state.running.slot);
}

int mt_update_dropped(const mt_update_t *u, mt_update_image_t *image) {
  if (!u || u->dropped.slot == MT_UPDATE_BUILT_IN) return 0;
  if (image) *image = u->dropped;
  return 1;
}

int mt_update_rolled_back(const mt_update_t *u, mt_update_image_t *image) {
  if (!u || u->rolled_back.slot == MT_UPDATE_BUILT_IN) return 0;
  if (image) *image = u->rolled_back;
  return 1;
}

int mt_update_staged(const mt_update_t *u, mt_update_image_t *image) {
  if (!u || u->state.staged.slot == MT_UPDATE_BUILT_IN) return 0;
  if (image) *image = u->state.staged;
  return 1;
}

int mt_update_activate(mt_update_t *u) {
  if (!u) return MT_UPDATE_NULL;
  if (u->state.staged.slot == MT_UPDATE_BUILT_IN || u->state.trial) return MT_UPDATE_STATE;
  mt_update_image_t previous = u->state.previous;
  uint64_t highest = u->state.highest;
  u->state.previous = u->state.running;
  u->state.running = u->state.staged;
  built_in(&u->state.staged);
  if (u->state.running.sequence > u->state.highest) u->state.highest = u->state.running.sequence;
  u->state.trial = 1;
  int rc = save_state(u);
  if (rc != MT_UPDATE_OK) { /* not saved: as it was, still staged (the swap must not start) */
    u->state.staged = u->state.running;
    u->state.running = u->state.previous;
    u->state.previous = previous;
    u->state.highest = highest;
    u->state.trial = 0;
  }
  return rc;
}

int mt_update_confirm(mt_update_t *u) {
  if (!u) return MT_UPDATE_NULL;
  if (!u->state.trial) return MT_UPDATE_STATE;
  u->state.trial = 0;
  return save_state(u);
}

int mt_update_roll_back(mt_update_t *u, const char *reason) {
  if (!u) return MT_UPDATE_NULL;
  if (!u->state.trial) return MT_UPDATE_STATE;
  u->state.running = u->state.previous;
  built_in(&u->state.previous);
  u->state.trial = 0;
  int rc = save_state(u);
  if (rc == MT_UPDATE_OK && reason) {
    line_t l = reason_line(u);
    put_str(&l, reason);
  }
  return rc;
}

int mt_update_discard(mt_update_t *u, const char *reason) {
  if (!u) return MT_UPDATE_NULL;
  if (u->state.staged.slot == MT_UPDATE_BUILT_IN) return MT_UPDATE_STATE;
  built_in(&u->state.staged);
  int rc = save_state(u);
  if (rc == MT_UPDATE_OK && reason) {
    line_t l = reason_line(u);
    put_str(&l, reason);
  }
  return rc;
}

const char *mt_update_reason(const mt_update_t *u) { return u ? u->reason : ""; }

uint32_t mt_update_expected_offset(const mt_update_t *u) { return u ? u->received : 0; }

/* ---- the envelope ---- */

/* The head of a byte string of `n` bytes (canonical), into `out` (9 bytes); its length. */
static uint32_t bstr_head(uint8_t major, uint32_t n, uint8_t *out) {
  uint8_t m = (uint8_t)(major << 5);
  if (n < 24u) return out[0] = (uint8_t)(m | n), 1u;
  if (n < 0x100u) return out[0] = m | 24u, out[1] = (uint8_t)n, 2u;
  if (n < 0x10000u) return out[0] = m | 25u, out[1] = (uint8_t)(n >> 8), out[2] = (uint8_t)n, 3u;
  out[0] = m | 26u;
  for (int i = 0; i < 4; i++) out[1 + i] = (uint8_t)(n >> (24 - 8 * i));
  return 5u;
}

/* Reads the next item's head and, for a string, where its bytes are. */
static void next_string(cbr_t *r, unsigned *major, const uint8_t **bytes, uint32_t *length) {
  uint64_t arg;
  cb_head(r, major, &arg);
  *bytes = r->b + r->at;
  *length = (uint32_t)arg;
  if (*major == 2u || *major == 3u) r->at += (uint32_t)arg;
}

static int field_error(mt_update_t *u, const char *name, unsigned key, const char *what) {
  line_t l = reason_line(u);
  put_str(&l, "manifest field ");
  put_str(&l, name);
  put_str(&l, " (key ");
  put_u64(&l, key);
  put_str(&l, what);
  u->phase = PHASE_IDLE;
  return MT_UPDATE_REFUSED;
}

/* The manifest: every key the host writes, read as `verify` reads it (docs/UPDATE.md). */
static int read_manifest(mt_update_t *u, const uint8_t *p, uint32_t n) {
  uint32_t len;
  const char *why;
  int rc = cb_item(p, n, &len, &why);
  line_t l = reason_line(u);
  if (rc == CB_SHORT) return refuse(u, "truncated: the manifest is cut short");
  if (rc == CB_BAD) {
    put_str(&l, "the manifest is not well-formed CBOR: ");
    put_str(&l, why);
    u->phase = PHASE_IDLE;
    return MT_UPDATE_REFUSED;
  }
  cbr_t r = {p, n, 0, NULL, 0, 0, 0};
  unsigned major;
  uint64_t pairs;
  cb_head(&r, &major, &pairs);
  if (major != 5u || len != n) return refuse(u, "manifest is not one CBOR map");
  /* where each known key's value starts (0: absent) */
  uint32_t at[9] = {0};
  for (uint64_t i = 0; i < pairs; i++) {
    unsigned km;
    uint64_t k;
    cb_head(&r, &km, &k);
    if (km == 0u && k >= 1u && k <= 8u) at[k] = r.at;
    cb_walk(&r, 1);
  }
  static const char *const names[9] = {"",         "format",       "sequence",
                                       "blobSize", "blobSha256",   "abiVersion",
                                       "profile",  "agentVersion", "selfTestSha256"};
  uint64_t value[9] = {0};
  mt_update_manifest_t *m = &u->manifest;
  memset(m, 0, sizeof *m);
  for (unsigned k = 1; k <= 8u; k++) {
    if (!at[k]) return field_error(u, names[k], k, ") missing");
    cbr_t v = {p, n, at[k], NULL, 0, 0, 0};
    const uint8_t *bytes;
    uint32_t length;
    unsigned vm;
    if (k == 4u || k == 8u) {
      next_string(&v, &vm, &bytes, &length);
      if (vm != 2u || length != 32u)
        return field_error(u, names[k], k, ") out of range: not a 32-byte SHA-256");
      memcpy(k == 4u ? m->blob_sha256 : m->self_test_sha256, bytes, 32);
    } else if (k == 6u || k == 7u) {
      next_string(&v, &vm, &bytes, &length);
      /* bytes, not characters: 64 characters of UTF-8 may be 256 bytes, agent_version holds 64 */
      int ok = vm == 3u && length >= 1u && length <= MT_UPDATE_AGENT_VERSION_MAX;
      if (k == 6u)
        ok = ok && ((length == 4u && !memcmp(bytes, "rtos", 4)) ||
                    (length == 5u && !memcmp(bytes, "linux", 5)));
      if (!ok) {
        return field_error(u, names[k], k,
                           vm == 3u ? (k == 6u ? ") out of range: not rtos or linux"
                                               : ") out of range: 1 to 64 bytes of UTF-8")
                                    : ") out of range: not a text string");
      }
      char *dst = k == 6u ? m->profile : m->agent_version;
      memcpy(dst, bytes, length);
      dst[length] = 0;
    } else {
      uint64_t x;
      cb_head(&v, &vm, &x);
      /* ranges as docs/UPDATE.md's table */
      static const uint64_t lo[9] = {0, 1, 1, 1, 0, 1, 0, 0, 0};
      static const uint64_t hi[9] = {
          0, MT_UPDATE_MANIFEST_FORMAT, CB_MAX_INT, MT_UPDATE_BLOB_MAX, 0, 0xffffu, 0, 0, 0};
      if (vm != 0u || x < lo[k] || x > hi[k]) {
        line_t e = reason_line(u);
        put_str(&e, "manifest field ");
        put_str(&e, names[k]);
        put_str(&e, " (key ");
        put_u64(&e, k);
        put_str(&e, ") out of range: ");
        if (vm == 0u)
          put_u64(&e, x);
        else
          put_str(&e, "not an integer");
        put_str(&e, " (");
        put_u64(&e, lo[k]);
        put_str(&e, " to ");
        put_u64(&e, hi[k]);
        put_str(&e, ")");
        u->phase = PHASE_IDLE;
        return MT_UPDATE_REFUSED;
      }
      value[k] = x;
    }
  }
  m->sequence = value[2];
  m->blob_size = (uint32_t)value[3];
  m->abi_version = (uint32_t)value[5];
  return MT_UPDATE_OK;
}

/* The envelope, complete in u->envelope[0..n): every check before a byte is written. */
static int check_envelope(mt_update_t *u, uint32_t n) {
  cbr_t r = {u->envelope, n, 0, NULL, 0, 0, 0};
  unsigned major;
  uint64_t arg;
  cb_head(&r, &major, &arg);
  if (major != 6u || arg != 18u)
    return refuse(u, "not COSE_Sign1: the package does not start with tag 18");
  cb_head(&r, &major, &arg);
  const uint8_t *part[4];
  uint32_t part_length[4];
  static const unsigned expected[4] = {2u, 5u, 2u, 2u};
  if (major != 4u || arg != 4u) goto not_sign1;
  for (int i = 0; i < 4; i++) {
    uint32_t at = r.at;
    cb_head(&r, &major, &arg);
    if (major != expected[i]) goto not_sign1;
    part[i] = u->envelope + at;
    part_length[i] = (uint32_t)arg;
    r.at = at;
    if (major == 2u)
      next_string(&r, &major, &part[i], &part_length[i]);
    else
      cb_walk(&r, 1);
  }

  {
    /* protected header: {1: -7} */
    const uint8_t *ph = part[0];
    uint32_t phn = part_length[0], len;
    const char *why;
    int alg_ok = 0;
    line_t l = reason_line(u);
    const char *shown = "none";
    char num[24];
    if (phn > 0u) {
      int rc = cb_item(ph, phn, &len, &why);
      if (rc == CB_SHORT) return refuse(u, "truncated: the protected header is cut short");
      if (rc == CB_BAD) {
        put_str(&l, "the protected header is not well-formed CBOR: ");
        put_str(&l, why);
        u->phase = PHASE_IDLE;
        return MT_UPDATE_REFUSED;
      }
      cbr_t p = {ph, phn, 0, NULL, 0, 0, 0};
      uint64_t pairs;
      cb_head(&p, &major, &pairs);
      if (major != 5u) return refuse(u, "not COSE_Sign1: the protected header is not a map");
      for (uint64_t i = 0; i < pairs; i++) {
        unsigned km, vm;
        uint64_t k, v;
        cb_head(&p, &km, &k);
        uint32_t value_at = p.at;
        if (km == 0u && k == 1u) {
          cb_head(&p, &vm, &v);
          if (vm == 1u && v == 6u) alg_ok = 1;
          /* not yet verified: only a small integer is echoed, never the package's text */
          if ((vm == 0u || vm == 1u) && v < 1000000u) {
            line_t s = {num, sizeof num, 0};
            if (vm == 1u) put_str(&s, "-");
            put_u64(&s, vm == 1u ? v + 1u : v);
            shown = num;
          } else {
            shown = vm == 3u ? "a string" : "a number";
          }
          p.at = value_at;
        }
        cb_walk(&p, 1);
      }
    }
    if (!alg_ok) {
      put_str(&l, "wrong alg: ");
      put_str(&l, shown);
      put_str(&l, " in the protected header, only ES256 (-7) is accepted");
      u->phase = PHASE_IDLE;
      return MT_UPDATE_REFUSED;
    }
  }

  {
    /* unprotected header: exactly {4: an 8-byte key id} */
    cbr_t h = {u->envelope, n, (uint32_t)(part[1] - u->envelope), NULL, 0, 0, 0};
    unsigned km, vm;
    uint64_t pairs, k;
    const uint8_t *kid;
    uint32_t kid_length;
    cb_head(&h, &major, &pairs);
    int ok = pairs == 1u;
    if (ok) {
      cb_head(&h, &km, &k);
      next_string(&h, &vm, &kid, &kid_length);
      ok = km == 0u && k == 4u && vm == 2u && kid_length == 8u;
    }
    if (!ok)
      return refuse(
          u, "not COSE_Sign1 as made by sign: the unprotected header is not {4: an 8-byte key id}");
    if (memcmp(kid, u->key_id, 8) != 0) {
      char theirs[17], ours[17];
      mt_update_hex(kid, 8, theirs);
      mt_update_hex(u->key_id, 8, ours);
      line_t l = reason_line(u);
      put_str(&l, "wrong key: signed by key ");
      put_str(&l, theirs);
      put_str(&l, ", this agent trusts ");
      put_str(&l, ours);
      u->phase = PHASE_IDLE;
      return MT_UPDATE_REFUSED;
    }
  }

  {
    /* the signature over Sig_structure ["Signature1", protected, h'', payload] */
    static const uint8_t context[12] = {0x84, 0x6a, 'S', 'i', 'g', 'n',
                                        'a',  't',  'u', 'r', 'e', '1'};
    uint8_t head[9], digest[32];
    mt_update_sha256_t h;
    mt_update_crypto_sha256_init(&h);
    mt_update_crypto_sha256_update(&h, context, sizeof context);
    mt_update_crypto_sha256_update(&h, head, bstr_head(2, part_length[0], head));
    mt_update_crypto_sha256_update(&h, part[0], part_length[0]);
    mt_update_crypto_sha256_update(&h, head, bstr_head(2, 0, head));
    mt_update_crypto_sha256_update(&h, head, bstr_head(2, part_length[2], head));
    mt_update_crypto_sha256_update(&h, part[2], part_length[2]);
    mt_update_crypto_sha256_final(&h, digest);
    if (part_length[3] != 64u || !mt_update_crypto_p256_verify(u->public_key, digest, part[3]))
      return refuse(u, "bad signature: the envelope is not signed by this agent's key");
  }

  int rc = read_manifest(u, part[2], part_length[2]);
  if (rc != MT_UPDATE_OK) return rc;
  u->manifest_read = 1;
  const mt_update_manifest_t *m = &u->manifest;
  line_t l = reason_line(u);
  if (m->abi_version != u->abi_version) {
    put_str(&l, "wrong ABI: the package's blob has ABI ");
    put_u64(&l, m->abi_version);
    put_str(&l, ", this agent drives ");
    put_u64(&l, u->abi_version);
  } else if (strcmp(m->profile, u->profile) != 0) {
    put_str(&l, "wrong profile: the package is for ");
    put_str(&l, m->profile);
    put_str(&l, ", this agent is ");
    put_str(&l, u->profile);
  } else if (m->sequence <= u->state.highest) {
    put_str(&l, "sequence ");
    put_u64(&l, m->sequence);
    put_str(&l, " is not above the installed ");
    put_u64(&l, u->state.highest);
    put_str(&l, " (an older or replayed package)");
  } else if (m->blob_size > u->storage->slot_bytes) {
    put_str(&l, "the package's blob (");
    put_u64(&l, m->blob_size);
    put_str(&l, " bytes) is larger than the staging slot (");
    put_u64(&l, u->storage->slot_bytes);
    put_str(&l, " bytes)");
  } else {
    return MT_UPDATE_OK;
  }
  u->phase = PHASE_IDLE;
  return MT_UPDATE_REFUSED;

not_sign1:
  return refuse(
      u,
      "not COSE_Sign1: not an array of protected header, unprotected header, payload and signature");
}

/* ---- the transfer ---- */

int mt_update_begin(mt_update_t *u) {
  if (!u || !u->storage) return MT_UPDATE_NULL;
  if (u->state.trial) {
    line_t l = reason_line(u);
    put_str(&l,
            "a swap is on trial: it must end (confirmed or rolled back) before another package");
    return MT_UPDATE_STATE;
  }
  if (u->state.staged.slot != MT_UPDATE_BUILT_IN) {
    line_t l = reason_line(u);
    /* V8's and the Linux agent's words (host/update/swap.ts) */
    put_str(&l, "another package is staged (sequence ");
    put_u64(&l, u->state.staged.sequence);
    put_str(&l, ")");
    return MT_UPDATE_STATE;
  }
  u->phase = PHASE_ENVELOPE;
  u->received = 0;
  u->envelope_length = 0;
  u->blob_start = 0;
  u->blob_head_length = 0;
  u->manifest_read = 0;
  u->slot = u->state.running.slot == 0 ? 1 : 0;
  u->reason[0] = 0;
  return MT_UPDATE_OK;
}

/* The staging slot is about to be erased: nothing may name it any more. */
static int free_slot(mt_update_t *u) {
  int changed = 0;
  if (u->state.staged.slot == u->slot) built_in(&u->state.staged), changed = 1;
  if (u->state.previous.slot == u->slot) built_in(&u->state.previous), changed = 1;
  return changed ? save_state(u) : MT_UPDATE_OK;
}

static int storage_error(mt_update_t *u, const char *what) {
  line_t l = reason_line(u);
  put_str(&l, "storage: ");
  put_str(&l, what);
  put_str(&l, " failed in slot ");
  put_u64(&l, (uint64_t)u->slot);
  u->phase = PHASE_IDLE;
  return MT_UPDATE_STORAGE;
}

/* New bytes of the package, in order. */
static int feed(mt_update_t *u, const uint8_t *data, uint32_t length) {
  while (length > 0) {
    if (u->phase == PHASE_ENVELOPE) {
      uint32_t room = MT_UPDATE_ENVELOPE_MAX - u->received;
      uint32_t take = length < room ? length : room;
      memcpy(u->envelope + u->received, data, take);
      uint32_t have = u->received + take, len;
      const char *why;
      int rc = cb_item(u->envelope, have, &len, &why);
      if (rc == CB_SHORT) {
        if (have == MT_UPDATE_ENVELOPE_MAX)
          return refuse(
              u,
              "the COSE_Sign1 envelope is longer than this agent keeps (MT_UPDATE_ENVELOPE_MAX)");
        u->received = have;
        return MT_UPDATE_OK;
      }
      if (rc == CB_BAD) {
        line_t l = reason_line(u);
        put_str(&l, "the COSE_Sign1 envelope is not well-formed CBOR: ");
        put_str(&l, why);
        u->phase = PHASE_IDLE;
        return MT_UPDATE_REFUSED;
      }
      if ((rc = check_envelope(u, len)) != MT_UPDATE_OK) return rc;
      uint32_t used = len - u->received;
      u->envelope_length = len;
      u->received = len;
      u->phase = PHASE_BLOB_HEAD;
      data += used;
      length -= used;
    } else if (u->phase == PHASE_BLOB_HEAD) {
      u->blob_head[u->blob_head_length++] = *data++;
      length--;
      u->received++;
      unsigned info = u->blob_head[0] & 31u;
      if ((u->blob_head[0] >> 5) != 2u || info > 27u)
        return refuse(u, "the blob (the item after the envelope) is not a byte string");
      uint32_t need = info < 24u ? 1u : 1u + (1u << (info - 24u));
      if (u->blob_head_length < need) continue;
      cbr_t r = {u->blob_head, need, 0, NULL, 0, 0, 0};
      unsigned major;
      uint64_t size;
      if (cb_head(&r, &major, &size) != CB_OK) {
        line_t l = reason_line(u);
        put_str(&l, "the blob's head is not well-formed CBOR: ");
        put_str(&l, r.why);
        u->phase = PHASE_IDLE;
        return MT_UPDATE_REFUSED;
      }
      if (size != u->manifest.blob_size) {
        line_t l = reason_line(u);
        put_str(&l, "blob size mismatch: ");
        put_u64(&l, size);
        put_str(&l, " bytes, the manifest says ");
        put_u64(&l, u->manifest.blob_size);
        u->phase = PHASE_IDLE;
        return MT_UPDATE_REFUSED;
      }
      /* the running blob changed since mt_update_begin chose the slot: never erase it */
      if (u->slot == u->state.running.slot || u->state.trial) {
        u->phase = PHASE_IDLE;
        line_t l = reason_line(u);
        put_str(&l, "the staging slot holds the running blob now: begin the transfer again");
        return MT_UPDATE_STATE;
      }
      int rc = free_slot(u);
      if (rc != MT_UPDATE_OK) return u->phase = PHASE_IDLE, rc;
      if (u->storage->erase(u->storage->context, u->slot, u->manifest.blob_size) != 0)
        return storage_error(u, "erase");
      mt_update_crypto_sha256_init(&u->blob_hash);
      u->blob_start = u->received;
      u->phase = PHASE_BLOB;
    } else if (u->phase == PHASE_BLOB) {
      uint32_t at = u->received - u->blob_start;
      uint32_t left = u->manifest.blob_size - at;
      uint32_t take = length < left ? length : left;
      if (u->storage->write(u->storage->context, u->slot, at, data, take) != 0)
        return storage_error(u, "write");
      const uint8_t *slot = u->storage->read_pointer(u->storage->context, u->slot);
      if (!slot || memcmp(slot + at, data, take) != 0)
        return storage_error(u, "reading back a write");
      mt_update_crypto_sha256_update(&u->blob_hash, data, take);
      u->received += take;
      data += take;
      length -= take;
      if (take == left) u->phase = PHASE_DONE;
    } else {
      return refuse(u, "bytes after the blob: the package is longer than its manifest says");
    }
  }
  return MT_UPDATE_OK;
}

/* Whether `n` bytes at package offset `offset` (all below u->received) are the ones taken. */
static int same_as_taken(const mt_update_t *u, uint32_t offset, const uint8_t *data, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) {
    uint32_t o = offset + i;
    uint8_t b;
    if (u->phase == PHASE_ENVELOPE || o < u->envelope_length)
      b = u->envelope[o];
    else if (o < u->blob_start || u->phase == PHASE_BLOB_HEAD)
      b = u->blob_head[o - u->envelope_length];
    else
      b = u->storage->read_pointer(u->storage->context, u->slot)[o - u->blob_start];
    if (b != data[i]) return 0;
  }
  return 1;
}

int mt_update_write(mt_update_t *u, uint32_t offset, const uint8_t *data, uint32_t length) {
  if (!u || (!data && length)) return MT_UPDATE_NULL;
  if (u->phase == PHASE_IDLE) {
    line_t l = reason_line(u);
    put_str(&l, "no transfer in progress: mt_update_begin first (a refusal ends a transfer)");
    return MT_UPDATE_STATE;
  }
  if (offset > u->received) {
    line_t l = reason_line(u);
    put_str(&l, "chunk out of order: it starts at ");
    put_u64(&l, offset);
    put_str(&l, ", the next byte expected is ");
    put_u64(&l, u->received);
    return MT_UPDATE_REFUSED; /* nothing taken: the sender resends from the expected offset */
  }
  if (offset < u->received) {
    uint32_t overlap = u->received - offset;
    if (overlap > length) overlap = length;
    if (!same_as_taken(u, offset, data, overlap)) {
      line_t l = reason_line(u);
      put_str(&l, "chunk at ");
      put_u64(&l, offset);
      put_str(&l, " repeats bytes already taken, with other values (another package?)");
      u->phase = PHASE_IDLE;
      return MT_UPDATE_REFUSED;
    }
    if (overlap == length) return MT_UPDATE_REPEATED;
    data += overlap;
    length -= overlap;
  }
  return feed(u, data, length);
}

int mt_update_abort(mt_update_t *u, const char *reason) {
  if (!u || !reason) return MT_UPDATE_NULL;
  line_t l = reason_line(u);
  if (u->phase == PHASE_IDLE) {
    put_str(&l, "no transfer in progress: mt_update_begin first (a refusal ends a transfer)");
    return MT_UPDATE_STATE;
  }
  put_str(&l, reason);
  u->phase = PHASE_IDLE;
  return MT_UPDATE_OK;
}

int mt_update_commit(mt_update_t *u) {
  if (!u) return MT_UPDATE_NULL;
  line_t l = reason_line(u);
  switch (u->phase) {
    case PHASE_IDLE:
      put_str(&l, "no transfer in progress: mt_update_begin first (a refusal ends a transfer)");
      return MT_UPDATE_STATE;
    case PHASE_ENVELOPE: {
      /* where the envelope is cut, in verify's words (its CBOR reader's) */
      cbr_t r = {u->envelope, u->received, 0, NULL, 0, 0, 0};
      (void)cb_walk(&r, 0);
      put_str(&l, "truncated: the COSE_Sign1 envelope is cut short (");
      if (r.short_kind == 'i') {
        put_str(&l, "an item expected at byte ");
        put_u64(&l, r.short_at);
        put_str(&l, ", the package ends");
      } else if (r.short_kind == 'h') {
        put_str(&l, "a head at byte ");
        put_u64(&l, r.short_at);
        put_str(&l, " needs ");
        put_u64(&l, r.short_need);
        put_str(&l, " more bytes");
      } else {
        put_str(&l, "a string of ");
        put_u64(&l, r.short_need);
        put_str(&l, " bytes at byte ");
        put_u64(&l, r.short_at);
        put_str(&l, ", the package ends after ");
        put_u64(&l, u->received - r.at);
      }
      put_str(&l, ")");
      u->phase = PHASE_IDLE;
      return MT_UPDATE_REFUSED;
    }
    case PHASE_BLOB_HEAD:
    case PHASE_BLOB:
      /* verify's words (its CBOR reader's), so every engine reports the same line */
      put_str(&l, "truncated: the blob is cut short (");
      if (u->phase == PHASE_BLOB) {
        put_str(&l, "a string of ");
        put_u64(&l, u->manifest.blob_size);
        put_str(&l, " bytes at byte ");
        put_u64(&l, u->envelope_length);
        put_str(&l, ", the package ends after ");
        put_u64(&l, u->received - u->blob_start);
      } else if (u->blob_head_length == 0) {
        put_str(&l, "an item expected at byte ");
        put_u64(&l, u->envelope_length);
        put_str(&l, ", the package ends");
      } else {
        put_str(&l, "a head at byte ");
        put_u64(&l, u->envelope_length);
        put_str(&l, " needs ");
        put_u64(&l, 1u << ((u->blob_head[0] & 31u) - 24u));
        put_str(&l, " more bytes");
      }
      put_str(&l, ")");
      u->phase = PHASE_IDLE;
      return MT_UPDATE_REFUSED;
    default:
      break;
  }
  uint8_t digest[32];
  mt_update_crypto_sha256_final(&u->blob_hash, digest);
  u->phase = PHASE_IDLE;
  if (memcmp(digest, u->manifest.blob_sha256, 32) != 0)
    return refuse(u, "blob digest mismatch: its SHA-256 is not the manifest's");
  mt_update_image_t *s = &u->state.staged;
  s->slot = u->slot;
  s->blob_size = u->manifest.blob_size;
  s->sequence = u->manifest.sequence;
  memcpy(s->blob_sha256, u->manifest.blob_sha256, 32);
  memcpy(s->self_test_sha256, u->manifest.self_test_sha256, 32);
  memcpy(s->agent_version, u->manifest.agent_version, sizeof s->agent_version);
  return save_state(u);
}

void mt_update_hook_sha256_begin(void *context) { mt_update_crypto_sha256_init(context); }
void mt_update_hook_sha256_add(void *context, const uint8_t *bytes, size_t length) {
  mt_update_crypto_sha256_update(context, bytes, length);
}
void mt_update_hook_sha256_end(void *context, uint8_t digest[32]) {
  mt_update_crypto_sha256_final(context, digest);
}
