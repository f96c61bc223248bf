/*
 * mt_update.h — a signed core update on a device, RTOS- and transport-neutral (docs/UPDATE.md).
 *
 * A package (COSE_Sign1 ES256 over a CBOR manifest, then the blob as a byte string) arrives in
 * chunks from any transport (a direct method, a file, a serial line): mt_update_begin, then
 * mt_update_write for each chunk at its offset in the package, then mt_update_commit. The
 * envelope (a few hundred bytes) is kept in the context and checked first: key id, signature
 * over the Sig_structure with the public key built in, manifest, ABI, profile and sequence
 * (anti-rollback). Only then is the staging slot erased, and the blob streamed into it, hashed
 * as it is written; the commit checks its size and SHA-256 and records it as staged. The running
 * blob stays untouched in the other slot (or is the one built into the firmware).
 *
 * Storage is the application's (mt_update_storage_t): two slots it can erase, write and read in
 * place (a flash partition, a file mapped in memory, a RAM region), and a small state record
 * (the highest sequence installed, which slot runs, the one before it, a swap on trial) it keeps
 * across resets. The agent swaps at a window boundary (mt_update_activate), confirms or rolls
 * back (mt_update_confirm / mt_update_roll_back); a reset during a swap on trial rolls back at
 * the next mt_update_open.
 *
 * Cryptography goes through the three functions at the end (mt_update_crypto_*), implemented
 * once over NetX Duo's nx_crypto in mt_update_nx_crypto.c. No allocation; not thread-safe: one
 * caller at a time (the port serialises).
 */
#ifndef MT_UPDATE_H
#define MT_UPDATE_H

#include <stddef.h>
#include <stdint.h>

/* Bytes kept for the envelope; a package whose envelope is longer is refused. */
#ifndef MT_UPDATE_ENVELOPE_MAX
#define MT_UPDATE_ENVELOPE_MAX 512u
#endif
/* The one manifest layout read (docs/UPDATE.md, key 1). */
#define MT_UPDATE_MANIFEST_FORMAT 1u
/* The largest blob a package may carry (docs/UPDATE.md, key 3). */
#define MT_UPDATE_BLOB_MAX (4u << 20)
/* The longest agentVersion a manifest may carry, in bytes of UTF-8 (docs/UPDATE.md, key 7). */
#define MT_UPDATE_AGENT_VERSION_MAX 64u
/* The state record as mt_update_storage_t's load_state / save_state see it. */
#define MT_UPDATE_STATE_BYTES 512u
/* No slot: the blob built into the firmware. */
#define MT_UPDATE_BUILT_IN (-1)

/* Return codes. */
typedef enum {
  MT_UPDATE_OK = 0,
  MT_UPDATE_REPEATED = 1, /* a chunk already written, same bytes: nothing to do */
  MT_UPDATE_REFUSED = -1, /* the package (or this chunk) is refused: reason in mt_update_reason */
  MT_UPDATE_STORAGE = -2, /* a storage callback failed: reason says which */
  MT_UPDATE_STATE = -3,   /* called in the wrong state (no begin, already committed, …) */
  MT_UPDATE_NULL = -4,    /* a NULL pointer or a storage without its callbacks */
} mt_update_status_t;

/* The application's storage. Callbacks return 0 on success. */
typedef struct mt_update_storage {
  void *context;
  uint32_t slot_bytes; /* each slot's capacity */
  /* Erase at least the first `bytes` of `slot` (0 or 1) before writes (flash: whole sectors). */
  int (*erase)(void *context, int slot, uint32_t bytes);
  int (*write)(void *context, int slot, uint32_t offset, const uint8_t *data, uint32_t length);
  /* The slot's bytes where the engine can read them in place (wasm3 reads the blob there). */
  const uint8_t *(*read_pointer)(void *context, int slot);
  /* The state record: load returns 0 and fills MT_UPDATE_STATE_BYTES, 1 when none was ever saved;
     save must replace the record atomically (a reset leaves the old one or the new one). */
  int (*load_state)(void *context, uint8_t *record, uint32_t length);
  int (*save_state)(void *context, const uint8_t *record, uint32_t length);
} mt_update_storage_t;

typedef struct mt_update_manifest {
  uint64_t sequence;
  uint32_t blob_size;
  uint32_t abi_version;
  uint8_t blob_sha256[32];
  uint8_t self_test_sha256[32];
  char profile[8];                                      /* "rtos" or "linux" */
  char agent_version[MT_UPDATE_AGENT_VERSION_MAX + 4u]; /* at most 64 bytes, NUL-terminated */
} mt_update_manifest_t;

/* An installed blob: where it is and what its manifest said (built in: slot -1, sequence 0). */
typedef struct mt_update_image {
  int32_t slot;
  uint32_t blob_size;
  uint64_t sequence;
  uint8_t blob_sha256[32];
  uint8_t self_test_sha256[32];
  char agent_version[MT_UPDATE_AGENT_VERSION_MAX + 4u];
} mt_update_image_t;

/* What the state record holds. */
typedef struct mt_update_state {
  uint64_t highest; /* highest sequence ever installed: a package must be above it */
  mt_update_image_t running;
  mt_update_image_t previous; /* the rollback target */
  mt_update_image_t staged;   /* slot -1: nothing staged */
  uint32_t trial;             /* 1 from mt_update_activate to mt_update_confirm / roll_back */
} mt_update_state_t;

typedef struct mt_update_crypto_sha256 {
  uint64_t opaque[46]; /* the crypto library's SHA-256 context (nx_crypto: 360 bytes) */
} mt_update_sha256_t;

typedef struct mt_update {
  const mt_update_storage_t *storage;
  const uint8_t *public_key; /* 65 bytes: 0x04 || X || Y (P-256) */
  uint8_t key_id[8];         /* SHA-256 of its SPKI DER, first 8 bytes (the COSE kid) */
  const char *profile;       /* this agent's: "rtos" or "linux" */
  uint32_t abi_version;      /* the ABI the bindings drive */
  mt_update_state_t state;
  /* the transfer in progress */
  uint32_t phase;
  uint32_t received; /* package bytes taken so far: the next chunk starts here */
  uint32_t envelope_length;
  uint32_t blob_start; /* package offset of the blob's first byte */
  int32_t slot;        /* the staging slot */
  mt_update_manifest_t manifest;
  uint32_t manifest_read; /* 1 once the signature verified and the manifest was read */
  mt_update_sha256_t blob_hash;
  uint8_t envelope[MT_UPDATE_ENVELOPE_MAX];
  uint8_t blob_head[9];
  uint32_t blob_head_length;
  char reason[160];
  mt_update_image_t
      dropped; /* a package staged and not swapped in, dropped at open (slot -1: none) */
  mt_update_image_t
      rolled_back; /* the blob on trial at a reset, rolled back at open (slot -1: none) */
} mt_update_t;

/* The reason given for a staged package dropped at mt_update_open (the Linux agent's words). */
#define MT_UPDATE_DROPPED_REASON "the agent stopped before the swap (staged package dropped)"
/* The reason of a rollback at mt_update_open, followed by the sequence that was on trial. */
#define MT_UPDATE_RESET_REASON "rolled back: the device reset during the swap to sequence "

/*
 * Reads the state record (none: the built-in blob runs, highest sequence 0). A record left by a
 * reset during a swap on trial rolls back here: the previous blob runs again, and
 * mt_update_reason says so (*rolled_back = 1). A record that does not read (bad checksum, other
 * layout) is MT_UPDATE_STORAGE: the application decides (the built-in blob still runs).
 * A package committed but not swapped in before a reset is dropped here (mt_update_dropped; the
 * reason MT_UPDATE_DROPPED_REASON unless a rollback's reason came first).
 * `public_key`: 65 bytes, kept by pointer. `profile`, kept by pointer.
 */
int mt_update_open(mt_update_t *u, const mt_update_storage_t *storage, const uint8_t *public_key,
                   const char *profile, uint32_t abi_version, int *rolled_back);

/* The built-in blob stands for `sequence` (the firmware shipped a blob signed with it, or
   `replay --installed-sequence`): a package must be above it, and the records name it as the
   running one's. Only while the built-in blob runs and nothing is staged or on trial; saved.
   MT_UPDATE_STATE otherwise, or when the highest installed is above it already. */
int mt_update_set_built_in_sequence(mt_update_t *u, uint64_t sequence);

/* 1 when mt_update_open dropped a staged package, its manifest's facts in *image. */
int mt_update_dropped(const mt_update_t *u, mt_update_image_t *image);

/* Starts a transfer (forgets any other not committed). The staging slot is the one not running.
   MT_UPDATE_STATE while a swap is on trial or a package is staged (swap or discard it first). */
int mt_update_begin(mt_update_t *u);
/*
 * A chunk at `offset` in the package. The next chunk must start where the last one ended: a
 * chunk further on is refused (nothing written; the transfer stays, the sender resends from
 * mt_update_expected_offset); one that repeats bytes already taken is compared with them:
 * the same bytes are MT_UPDATE_REPEATED, others end the transfer (refused). Any refusal of the
 * package itself (signature, manifest, sizes) ends the transfer; the running blob is never
 * touched.
 */
int mt_update_write(mt_update_t *u, uint32_t offset, const uint8_t *data, uint32_t length);
/* The whole package arrived: checks the blob's size and SHA-256, records it as staged. */
int mt_update_commit(mt_update_t *u);
/* Ends the transfer in progress without staging anything (the package could not be read to its
   end); `reason` becomes mt_update_reason. MT_UPDATE_STATE when none is in progress. */
int mt_update_abort(mt_update_t *u, const char *reason);
uint32_t mt_update_expected_offset(const mt_update_t *u);
/* The last refusal's reason, one line ("" when none). */
const char *mt_update_reason(const mt_update_t *u);

/* The blob to load: the running one (its slot's bytes), or NULL for the built-in blob. */
const uint8_t *mt_update_running_blob(const mt_update_t *u, uint32_t *length);
/* 1 when a committed package waits for the swap, its manifest's facts in *image. */
int mt_update_staged(const mt_update_t *u, mt_update_image_t *image);
/* The swap starts: the staged blob becomes the running one, on trial; saved before it loads.
   MT_UPDATE_STORAGE: not saved, nothing changed (the swap must not start). */
int mt_update_activate(mt_update_t *u);
/* The new blob passed its self-test and its first windows: no longer on trial. */
int mt_update_confirm(mt_update_t *u);
/* The blob on trial failed: the previous one runs again; its sequence stays the highest. */
int mt_update_roll_back(mt_update_t *u, const char *reason);
/* Forgets a staged package (a swap refused before it started). */
int mt_update_discard(mt_update_t *u, const char *reason);
/* 1 when mt_update_open rolled back a swap on trial (a reset), the failed blob's facts in *image
   (the running one is the blob it replaced). */
int mt_update_rolled_back(const mt_update_t *u, mt_update_image_t *image);

/* Lowercase hex of `n` bytes into `out` (2n + 1 bytes). */
void mt_update_hex(const uint8_t *bytes, size_t n, char *out);

/* The crypto seam (mt_update_nx_crypto.c over NetX Duo's nx_crypto). */
void mt_update_crypto_sha256_init(mt_update_sha256_t *h);
void mt_update_crypto_sha256_update(mt_update_sha256_t *h, const uint8_t *data, size_t length);
void mt_update_crypto_sha256_final(mt_update_sha256_t *h, uint8_t digest[32]);
/* ECDSA P-256 over a SHA-256 digest; `signature` is r || s (64 bytes, as COSE carries it).
   1: valid; 0: not. */
int mt_update_crypto_p256_verify(const uint8_t public_key[65], const uint8_t digest[32],
                                 const uint8_t signature[64]);

/* The agent's SHA-256 hooks (mt_agent_update_hooks_t sha256_begin/add/end) over this seam, for
   every port: their context is an mt_update_sha256_t of the caller's. */
void mt_update_hook_sha256_begin(void *context);
void mt_update_hook_sha256_add(void *context, const uint8_t *bytes, size_t length);
void mt_update_hook_sha256_end(void *context, uint8_t digest[32]);

#endif
