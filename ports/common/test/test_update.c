/*
 * The update verifier and staging (ports/common/mt_update.c) over nx_crypto, against packages
 * `microtally keygen` / `sign` made at test time (scripts/test-update-c.sh writes them into the
 * folder given as argv[1]): key.raw (the public key, 65 bytes), blob.wasm (the rtos blob),
 * good.pkg (sequence 5), next.pkg (6), low.pkg (3), other-key.pkg (7, another key), linux.pkg (8,
 * the linux blob). The other bad packages are made here from good.pkg, one change each.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "mt_update.h"

typedef struct {
  uint8_t *bytes;
  uint32_t length;
} file_t;

static file_t load(const char *dir, const char *name) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "test_update: cannot open %s\n", path);
    exit(2);
  }
  file_t r = {NULL, 0};
  fseek(f, 0, SEEK_END);
  r.length = (uint32_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  r.bytes = malloc(r.length + 1u);
  if (!r.bytes || fread(r.bytes, 1, r.length, f) != r.length) exit(2);
  fclose(f);
  return r;
}

/* The storage: two RAM slots and a state record, with counts and a failure switch. */
#define SLOT_MAX (160u * 1024u)
typedef struct {
  uint8_t slot[2][SLOT_MAX];
  uint8_t record[MT_UPDATE_STATE_BYTES];
  int has_record;
  unsigned erases, writes, saves;
  int fail_write;
} ram_t;

static int ram_erase(void *c, int slot, uint32_t bytes) {
  ram_t *r = c;
  if (bytes > SLOT_MAX) return -1;
  memset(r->slot[slot], 0xff, bytes);
  r->erases++;
  return 0;
}
static int ram_write(void *c, int slot, uint32_t offset, const uint8_t *data, uint32_t length) {
  ram_t *r = c;
  if (r->fail_write) return -1;
  memcpy(r->slot[slot] + offset, data, length);
  r->writes++;
  return 0;
}
static const uint8_t *ram_read(void *c, int slot) { return ((ram_t *)c)->slot[slot]; }
static int ram_load(void *c, uint8_t *record, uint32_t length) {
  ram_t *r = c;
  if (!r->has_record) return 1;
  memcpy(record, r->record, length);
  return 0;
}
static int ram_save(void *c, const uint8_t *record, uint32_t length) {
  ram_t *r = c;
  memcpy(r->record, record, length);
  r->has_record = 1;
  r->saves++;
  return 0;
}

static ram_t ram;
static mt_update_storage_t storage = {&ram,     SLOT_MAX, ram_erase, ram_write,
                                      ram_read, ram_load, ram_save};
static file_t key, blob, good, next, low, other_key, linux_pkg, version_64, version_long;
static mt_update_t u;

static int open_rtos(uint32_t abi) {
  return mt_update_open(&u, &storage, key.bytes, "rtos", abi, NULL);
}

static void fresh(void) {
  memset(&ram, 0, sizeof ram);
  storage.slot_bytes = SLOT_MAX;
  CHECK(open_rtos(5) == MT_UPDATE_OK);
}

/* Streams `p` in chunks of `chunk` bytes; the first non-OK status (or the commit's). */
static int send(const uint8_t *p, uint32_t n, uint32_t chunk) {
  int rc = mt_update_begin(&u);
  if (rc != MT_UPDATE_OK) return rc;
  for (uint32_t at = 0; at < n; at += chunk) {
    rc = mt_update_write(&u, at, p + at, n - at < chunk ? n - at : chunk);
    if (rc != MT_UPDATE_OK) return rc;
  }
  return mt_update_commit(&u);
}

static int starts(const char *s, const char *prefix) {
  return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* `p` with one byte flipped, sent whole; the reason must start with `expect`. */
static void refused_with_byte(const file_t *p, uint32_t at, const char *expect) {
  uint8_t *copy = malloc(p->length);
  memcpy(copy, p->bytes, p->length);
  copy[at] ^= 0x01;
  fresh();
  CHECK(send(copy, p->length, 256) == MT_UPDATE_REFUSED);
  CHECK(starts(mt_update_reason(&u), expect));
  if (!starts(mt_update_reason(&u), expect))
    fprintf(stderr, "  byte %u: got \"%s\"\n", at, mt_update_reason(&u));
  CHECK(!mt_update_staged(&u, NULL));
  free(copy);
}

/* Where the blob starts in a package: its length minus the blob and its 3-byte bstr head. */
static uint32_t blob_offset(const file_t *p) { return p->length - blob.length - 3u; }

static void test_good_package(void) {
  fresh();
  CHECK(mt_update_running_blob(&u, NULL) == NULL); /* built in */
  CHECK(send(good.bytes, good.length, 100) == MT_UPDATE_OK);
  CHECK(mt_update_reason(&u)[0] == 0);
  mt_update_image_t staged;
  CHECK(mt_update_staged(&u, &staged) == 1);
  CHECK(staged.sequence == 5u && staged.slot == 0 && staged.blob_size == blob.length);
  CHECK(memcmp(ram.slot[0], blob.bytes, blob.length) == 0);
  CHECK(strlen(staged.agent_version) > 0);
  CHECK(ram.erases == 1);
  /* the swap: on trial, then confirmed; the record survives a reset */
  CHECK(mt_update_activate(&u) == MT_UPDATE_OK);
  uint32_t n = 0;
  CHECK(mt_update_running_blob(&u, &n) == ram.slot[0] && n == blob.length);
  CHECK(mt_update_confirm(&u) == MT_UPDATE_OK);
  int rolled = -1;
  CHECK(mt_update_open(&u, &storage, key.bytes, "rtos", 5, &rolled) == MT_UPDATE_OK && rolled == 0);
  CHECK(u.state.running.sequence == 5u && u.state.highest == 5u &&
        mt_update_running_blob(&u, NULL) == ram.slot[0]);
  CHECK(!mt_update_staged(&u, NULL));
  /* the next one goes to the other slot; the running blob is not touched */
  CHECK(send(next.bytes, next.length, 4096) == MT_UPDATE_OK);
  CHECK(mt_update_staged(&u, &staged) == 1 && staged.slot == 1 && staged.sequence == 6u);
  CHECK(memcmp(ram.slot[0], blob.bytes, blob.length) == 0);
  /* one byte at a time works too */
  fresh();
  CHECK(send(good.bytes, good.length, 1) == MT_UPDATE_OK);
}

static void test_reset_during_swap(void) {
  fresh();
  CHECK(send(good.bytes, good.length, 512) == MT_UPDATE_OK);
  CHECK(mt_update_activate(&u) == MT_UPDATE_OK);
  /* power lost before the confirm: the next open rolls back to the built-in blob */
  int rolled = 0;
  CHECK(mt_update_open(&u, &storage, key.bytes, "rtos", 5, &rolled) == MT_UPDATE_OK && rolled == 1);
  CHECK(
      starts(mt_update_reason(&u), "rolled back: the device reset during the swap to sequence 5"));
  CHECK(mt_update_running_blob(&u, NULL) == NULL);
  /* the failed sequence stays the highest: the same package is refused from then on */
  CHECK(send(good.bytes, good.length, 512) == MT_UPDATE_REFUSED);
  CHECK(starts(mt_update_reason(&u), "sequence 5 is not above the installed 5"));
  /* and an explicit rollback (a self-test mismatch) does the same */
  CHECK(send(next.bytes, next.length, 512) == MT_UPDATE_OK);
  CHECK(mt_update_activate(&u) == MT_UPDATE_OK);
  CHECK(mt_update_begin(&u) == MT_UPDATE_STATE); /* no other package while on trial */
  CHECK(mt_update_roll_back(&u, "self-test mismatch") == MT_UPDATE_OK);
  CHECK(mt_update_running_blob(&u, NULL) == NULL && u.state.highest == 6u);
  CHECK(strcmp(mt_update_reason(&u), "self-test mismatch") == 0);
}

/* Reset between the commit and the swap: the staged package is dropped at open, not kept forever
   (nothing would swap it in, and it would block every later transfer). */
static void test_reset_before_swap(void) {
  fresh();
  CHECK(send(good.bytes, good.length, 512) == MT_UPDATE_OK);
  CHECK(mt_update_staged(&u, NULL) == 1);
  int rolled = -1;
  CHECK(mt_update_open(&u, &storage, key.bytes, "rtos", 5, &rolled) == MT_UPDATE_OK && rolled == 0);
  CHECK(!mt_update_staged(&u, NULL));
  mt_update_image_t dropped;
  CHECK(mt_update_dropped(&u, &dropped) == 1 && dropped.sequence == 5u && dropped.slot == 0);
  CHECK(strcmp(mt_update_reason(&u), MT_UPDATE_DROPPED_REASON) == 0);
  CHECK(mt_update_running_blob(&u, NULL) == NULL && u.state.highest == 0u);
  /* saved: the next open finds nothing staged, nothing dropped */
  CHECK(open_rtos(5) == MT_UPDATE_OK && !mt_update_staged(&u, NULL) &&
        !mt_update_dropped(&u, NULL));
  /* and the same package may come again */
  CHECK(send(good.bytes, good.length, 512) == MT_UPDATE_OK && mt_update_staged(&u, NULL) == 1);
  /* not another one while it is staged */
  CHECK(send(next.bytes, next.length, 512) == MT_UPDATE_STATE);
  CHECK(strcmp(mt_update_reason(&u), "another package is staged (sequence 5)") == 0);
  CHECK(mt_update_staged(&u, &dropped) == 1 && dropped.sequence == 5u);
  /* a record naming more bytes than a slot holds is damaged (the blob would be read past it) */
  CHECK(mt_update_activate(&u) == MT_UPDATE_OK && mt_update_confirm(&u) == MT_UPDATE_OK);
  storage.slot_bytes = blob.length - 1u;
  CHECK(open_rtos(5) == MT_UPDATE_STORAGE &&
        starts(mt_update_reason(&u), "storage: the state record is damaged"));
  storage.slot_bytes = SLOT_MAX;
  CHECK(open_rtos(5) == MT_UPDATE_OK && u.state.running.sequence == 5u);
  /* the running blob changed after mt_update_begin chose the staging slot: it is not erased */
  CHECK(mt_update_begin(&u) == MT_UPDATE_OK && u.slot == 1);
  u.state.running.slot = 1;
  CHECK(mt_update_write(&u, 0, next.bytes, next.length) == MT_UPDATE_STATE);
  CHECK(starts(mt_update_reason(&u), "the staging slot holds the running blob now"));
  CHECK(ram.erases == 2);
}

static void test_refusals(void) {
  fresh();
  CHECK(send(other_key.bytes, other_key.length, 300) == MT_UPDATE_REFUSED);
  CHECK(starts(mt_update_reason(&u), "wrong key: signed by key "));
  CHECK(ram.erases == 0 && ram.writes == 0); /* nothing written before the envelope checks out */

  fresh();
  CHECK(send(linux_pkg.bytes, linux_pkg.length, 300) == MT_UPDATE_REFUSED);
  CHECK(strcmp(mt_update_reason(&u),
               "wrong profile: the package is for linux, this agent is rtos") == 0);

  memset(&ram, 0, sizeof ram);
  CHECK(open_rtos(99) == MT_UPDATE_OK);
  CHECK(send(good.bytes, good.length, 300) == MT_UPDATE_REFUSED);
  CHECK(strcmp(mt_update_reason(&u),
               "wrong ABI: the package's blob has ABI 5, this agent drives 99") == 0);

  /* a lower sequence after 5 is installed, and the same one again */
  fresh();
  CHECK(send(good.bytes, good.length, 300) == MT_UPDATE_OK &&
        mt_update_activate(&u) == MT_UPDATE_OK && mt_update_confirm(&u) == MT_UPDATE_OK);
  CHECK(send(low.bytes, low.length, 300) == MT_UPDATE_REFUSED);
  CHECK(strcmp(mt_update_reason(&u),
               "sequence 3 is not above the installed 5 (an older or replayed package)") == 0);
  CHECK(send(good.bytes, good.length, 300) == MT_UPDATE_REFUSED);
  CHECK(starts(mt_update_reason(&u), "sequence 5 is not above the installed 5"));

  /* the signature's last byte, a manifest byte (its agentVersion text), one blob byte */
  uint32_t env_end = blob_offset(&good);
  refused_with_byte(&good, env_end - 1u,
                    "bad signature: the envelope is not signed by this agent's key");
  refused_with_byte(&good, env_end - 64u - 2u - 10u, "bad signature:");
  refused_with_byte(&good, env_end + 3u + blob.length / 2u,
                    "blob digest mismatch: its SHA-256 is not the manifest's");
  refused_with_byte(&good, good.length - 1u, "blob digest mismatch");
  /* not a package: the bare blob; a float first */
  fresh();
  CHECK(send(blob.bytes, blob.length, 300) == MT_UPDATE_REFUSED);
  CHECK(strcmp(mt_update_reason(&u), "not COSE_Sign1: the package does not start with tag 18") ==
        0);
  uint8_t junk[4] = {0xfa, 0, 0, 0};
  CHECK(send(junk, sizeof junk, 4) == MT_UPDATE_REFUSED);
  CHECK(starts(mt_update_reason(&u), "the COSE_Sign1 envelope is not well-formed CBOR: a float"));
  /* the blob's head says another size */
  refused_with_byte(&good, env_end + 2u, "blob size mismatch: ");
  /* larger than the slot */
  fresh();
  storage.slot_bytes = blob.length - 1u;
  CHECK(send(good.bytes, good.length, 300) == MT_UPDATE_REFUSED);
  CHECK(starts(mt_update_reason(&u), "the package's blob (") &&
        strstr(mt_update_reason(&u), "is larger than the staging slot"));
  CHECK(ram.erases == 0);
  storage.slot_bytes = SLOT_MAX;
}

/* agentVersion is bounded in bytes: 64 bytes of UTF-8 are kept whole, 60 x "\u00e9" (60
   characters, 120 bytes) is refused before anything is written (it overflowed agent_version). */
static void test_agent_version_bytes(void) {
  char want[65];
  for (int i = 0; i < 32; i++) want[2 * i] = (char)0xc3, want[2 * i + 1] = (char)0xa9;
  want[64] = 0;
  fresh();
  CHECK(send(version_long.bytes, version_long.length, 300) == MT_UPDATE_REFUSED);
  CHECK(strcmp(mt_update_reason(&u),
               "manifest field agentVersion (key 7) out of range: 1 to 64 bytes of UTF-8") == 0);
  CHECK(ram.erases == 0 && !mt_update_staged(&u, NULL));
  mt_update_image_t staged;
  CHECK(send(version_64.bytes, version_64.length, 300) == MT_UPDATE_OK);
  CHECK(mt_update_staged(&u, &staged) == 1 && strcmp(staged.agent_version, want) == 0);
  CHECK(mt_update_activate(&u) == MT_UPDATE_OK && mt_update_confirm(&u) == MT_UPDATE_OK);
  CHECK(open_rtos(5) == MT_UPDATE_OK && strcmp(u.state.running.agent_version, want) == 0 &&
        u.state.running.sequence == 10u);
}

static void test_truncated_and_trailing(void) {
  fresh();
  CHECK(send(good.bytes, 10, 300) == MT_UPDATE_REFUSED);
  /* verify's words for the same cut (microtally verify prints this line) */
  CHECK(strcmp(mt_update_reason(&u),
               "truncated: the COSE_Sign1 envelope is cut short (a string of 8 bytes at byte 8, "
               "the package ends after 1)") == 0);
  fresh();
  CHECK(send(good.bytes, good.length - 1000u, 300) == MT_UPDATE_REFUSED);
  CHECK(starts(mt_update_reason(&u), "truncated: the blob is cut short ("));
  CHECK(!mt_update_staged(&u, NULL));
  fresh();
  CHECK(send(good.bytes, 0, 300) == MT_UPDATE_REFUSED); /* empty */
  CHECK(strcmp(mt_update_reason(&u),
               "truncated: the COSE_Sign1 envelope is cut short (an item "
               "expected at byte 0, the package ends)") == 0);
  /* one byte more than the package */
  uint8_t *longer = malloc(good.length + 1u);
  memcpy(longer, good.bytes, good.length);
  longer[good.length] = 0;
  fresh();
  CHECK(send(longer, good.length + 1u, 300) == MT_UPDATE_REFUSED);
  CHECK(starts(mt_update_reason(&u), "bytes after the blob"));
  free(longer);
}

static void test_chunk_order(void) {
  fresh();
  CHECK(mt_update_begin(&u) == MT_UPDATE_OK);
  CHECK(mt_update_write(&u, 0, good.bytes, 100) == MT_UPDATE_OK);
  /* a gap: refused, nothing taken, the transfer goes on from the expected offset */
  CHECK(mt_update_write(&u, 200, good.bytes + 200, 100) == MT_UPDATE_REFUSED);
  CHECK(strcmp(mt_update_reason(&u),
               "chunk out of order: it starts at 200, the next byte expected is 100") == 0);
  CHECK(mt_update_expected_offset(&u) == 100u);
  /* a repeat with the same bytes: nothing to do; overlapping the end: only the new part */
  CHECK(mt_update_write(&u, 0, good.bytes, 100) == MT_UPDATE_REPEATED);
  CHECK(mt_update_write(&u, 50, good.bytes + 50, 1000) == MT_UPDATE_OK);
  CHECK(mt_update_expected_offset(&u) == 1050u);
  CHECK(mt_update_write(&u, 1000, good.bytes + 1000, 50) == MT_UPDATE_REPEATED); /* in the slot */
  for (uint32_t at = 1050; at < good.length; at += 700)
    CHECK(mt_update_write(&u, at, good.bytes + at,
                          good.length - at < 700 ? good.length - at : 700) == MT_UPDATE_OK);
  CHECK(mt_update_commit(&u) == MT_UPDATE_OK);
  CHECK(mt_update_staged(&u, NULL) == 1);
  /* a repeat with other bytes ends the transfer */
  fresh();
  CHECK(mt_update_begin(&u) == MT_UPDATE_OK);
  CHECK(mt_update_write(&u, 0, good.bytes, 2000) == MT_UPDATE_OK);
  uint8_t other[10];
  memcpy(other, good.bytes + 1500, sizeof other);
  other[3] ^= 0x40;
  CHECK(mt_update_write(&u, 1500, other, sizeof other) == MT_UPDATE_REFUSED);
  CHECK(
      starts(mt_update_reason(&u), "chunk at 1500 repeats bytes already taken, with other values"));
  CHECK(mt_update_write(&u, 2000, good.bytes + 2000, 10) == MT_UPDATE_STATE);
  CHECK(mt_update_commit(&u) == MT_UPDATE_STATE);
  CHECK(!mt_update_staged(&u, NULL));
}

/* A transfer whose package cannot be read to its end (the replay programs' read error) ends
   without staging; the next one starts afresh. */
static void test_abort(void) {
  fresh();
  CHECK(mt_update_abort(&u, "x") == MT_UPDATE_STATE); /* none in progress */
  CHECK(mt_update_begin(&u) == MT_UPDATE_OK);
  CHECK(mt_update_write(&u, 0, good.bytes, 2000) == MT_UPDATE_OK);
  CHECK(mt_update_abort(&u, "the package could not be read to its end") == MT_UPDATE_OK);
  CHECK(strcmp(mt_update_reason(&u), "the package could not be read to its end") == 0);
  CHECK(mt_update_write(&u, 2000, good.bytes + 2000, 10) == MT_UPDATE_STATE);
  CHECK(mt_update_commit(&u) == MT_UPDATE_STATE);
  CHECK(!mt_update_staged(&u, NULL));
  CHECK(send(good.bytes, good.length, 300) == MT_UPDATE_OK);
  CHECK(mt_update_staged(&u, NULL) == 1);
}

static void test_storage_faults(void) {
  fresh();
  ram.fail_write = 1;
  CHECK(send(good.bytes, good.length, 300) == MT_UPDATE_STORAGE);
  CHECK(strcmp(mt_update_reason(&u), "storage: write failed in slot 0") == 0);
  CHECK(!mt_update_staged(&u, NULL));
  /* a damaged record is reported, never read as "nothing installed" (anti-rollback off) */
  fresh();
  CHECK(send(good.bytes, good.length, 300) == MT_UPDATE_OK);
  ram.record[9] ^= 1;
  CHECK(open_rtos(5) == MT_UPDATE_STORAGE);
  CHECK(strcmp(mt_update_reason(&u), "storage: the state record is damaged (checksum or layout)") ==
        0);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: test_update <folder of packages>\n");
    return 2;
  }
  key = load(argv[1], "key.raw");
  blob = load(argv[1], "blob.wasm");
  good = load(argv[1], "good.pkg");
  next = load(argv[1], "next.pkg");
  low = load(argv[1], "low.pkg");
  other_key = load(argv[1], "other-key.pkg");
  linux_pkg = load(argv[1], "linux.pkg");
  version_64 = load(argv[1], "version-64.pkg");
  version_long = load(argv[1], "version-long.pkg");
  if (key.length != 65 || blob.length >= 0x10000u || blob.length > SLOT_MAX) {
    fprintf(stderr, "test_update: key.raw must be 65 bytes, blob.wasm under 64 KiB\n");
    return 2;
  }
  test_good_package();
  test_reset_during_swap();
  test_reset_before_swap();
  test_refusals();
  test_agent_version_bytes();
  test_truncated_and_trailing();
  test_chunk_order();
  test_abort();
  test_storage_faults();
  return check_report("update verifier (mt_update.c over nx_crypto)");
}
