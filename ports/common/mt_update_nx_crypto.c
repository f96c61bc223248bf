/*
 * mt_update_nx_crypto.c — mt_update.h's crypto seam over NetX Duo's nx_crypto (SHA-256, ECDSA
 * P-256), the library a NetX Duo device already links for TLS: no other crypto library.
 * Builds in a NetX Duo firmware (nx_api.h types) or standalone (NX_CRYPTO_STANDALONE_ENABLE,
 * with nx_crypto's port header for the target).
 */
#include "mt_update.h"

#include "nx_crypto_ecdsa.h"
#include "nx_crypto_sha2.h"

/* mt_update_sha256_t must hold nx_crypto's context (a negative array size stops the build). */
typedef char mt_update_sha256_fits[sizeof(NX_CRYPTO_SHA256) <= sizeof(mt_update_sha256_t) ? 1 : -1];

/* ECDSA's working memory (3 KB by default): static, one verification at a time (mt_update.h). */
static HN_UBASE scratch[NX_CRYPTO_ECDSA_SCRATCH_BUFFER_SIZE / sizeof(HN_UBASE)];

void mt_update_crypto_sha256_init(mt_update_sha256_t *h) {
  _nx_crypto_sha256_initialize((NX_CRYPTO_SHA256 *)(void *)h, NX_CRYPTO_HASH_SHA256);
}

void mt_update_crypto_sha256_update(mt_update_sha256_t *h, const uint8_t *data, size_t length) {
  while (length > 0) { /* nx_crypto takes a UINT length */
    UINT n = length > 0x10000u ? 0x10000u : (UINT)length;
    _nx_crypto_sha256_update((NX_CRYPTO_SHA256 *)(void *)h, (UCHAR *)(uintptr_t)data, n);
    data += n;
    length -= n;
  }
}

void mt_update_crypto_sha256_final(mt_update_sha256_t *h, uint8_t digest[32]) {
  _nx_crypto_sha256_digest_calculate((NX_CRYPTO_SHA256 *)(void *)h, digest, NX_CRYPTO_HASH_SHA256);
}

/* One DER INTEGER from 32 big-endian bytes: leading zeros dropped, a 0 added before a high bit. */
static unsigned der_integer(const uint8_t *v, uint8_t *out) {
  unsigned i = 0;
  while (i < 31u && v[i] == 0) i++;
  unsigned n = 32u - i, pad = v[i] & 0x80u ? 1u : 0u;
  out[0] = 0x02;
  out[1] = (uint8_t)(n + pad);
  out[2] = 0;
  memcpy(out + 2 + pad, v + i, n);
  return 2u + pad + n;
}

int mt_update_crypto_p256_verify(const uint8_t public_key[65], const uint8_t digest[32],
                                 const uint8_t signature[64]) {
  /* COSE carries r || s; nx_crypto reads the DER SEQUENCE X.509 uses */
  uint8_t der[72], key[65], hash[32];
  unsigned n = der_integer(signature, der + 2);
  n += der_integer(signature + 32, der + 2 + n);
  der[0] = 0x30;
  der[1] = (uint8_t)n;
  memcpy(key, public_key, sizeof key);
  memcpy(hash, digest, sizeof hash);
  return _nx_crypto_ecdsa_verify((NX_CRYPTO_EC *)(uintptr_t)&_nx_crypto_ec_secp256r1, hash,
                                 sizeof hash, key, sizeof key, der, n + 2u,
                                 scratch) == NX_CRYPTO_SUCCESS;
}
