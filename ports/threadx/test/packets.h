/* Crafted packets for the tests: IPv4/IPv6 headers and TCP/UDP/ICMP headers in wire order. */
#ifndef MT_TEST_PACKETS_H
#define MT_TEST_PACKETS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline void put16(uint8_t *p, unsigned v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

/* IPv4 header of `ihl` words (options zero) carrying `payload` bytes; returns the header size. */
static inline size_t ipv4_header(uint8_t *p, unsigned proto, const uint8_t src[4],
                                 const uint8_t dst[4], size_t payload, unsigned ihl,
                                 unsigned frag_field) {
  memset(p, 0, ihl * 4u);
  p[0] = (uint8_t)(0x40u | ihl);
  put16(p + 2, (unsigned)(ihl * 4u + payload));
  put16(p + 4, 0x1234);
  put16(p + 6, frag_field);
  p[8] = 64;
  p[9] = (uint8_t)proto;
  memcpy(p + 12, src, 4);
  memcpy(p + 16, dst, 4);
  return ihl * 4u;
}

static inline size_t ipv6_header(uint8_t *p, unsigned next, const uint8_t src[16],
                                 const uint8_t dst[16], size_t payload) {
  memset(p, 0, 40);
  p[0] = 0x60;
  put16(p + 4, (unsigned)payload);
  p[6] = (uint8_t)next;
  p[7] = 64;
  memcpy(p + 8, src, 16);
  memcpy(p + 24, dst, 16);
  return 40;
}

/* TCP header with `words` 32-bit words (>= 5 valid), followed by nothing. */
static inline size_t tcp_header(uint8_t *p, unsigned sport, unsigned dport, unsigned words) {
  memset(p, 0, 20);
  put16(p, sport);
  put16(p + 2, dport);
  p[12] = (uint8_t)(words << 4);
  p[13] = 0x02; /* SYN */
  return 20;
}

static inline size_t udp_header(uint8_t *p, unsigned sport, unsigned dport, size_t udp_length) {
  memset(p, 0, 8);
  put16(p, sport);
  put16(p + 2, dport);
  put16(p + 4, (unsigned)udp_length);
  return 8;
}

static inline size_t icmp_echo(uint8_t *p) {
  memset(p, 0, 8);
  p[0] = 8; /* echo request (ICMPv6 would be 128; the parser does not care) */
  return 8;
}

/* IPv6 extension header of `octets` 8-byte units (hop-by-hop, routing, destination options). */
static inline size_t ipv6_ext(uint8_t *p, unsigned next, unsigned octets) {
  memset(p, 0, octets * 8u);
  p[0] = (uint8_t)next;
  p[1] = (uint8_t)(octets - 1u);
  return octets * 8u;
}

static inline size_t ipv6_fragment(uint8_t *p, unsigned next, unsigned offset_units, int more) {
  memset(p, 0, 8);
  p[0] = (uint8_t)next;
  put16(p + 2, (offset_units << 3) | (more ? 1u : 0u));
  return 8;
}

static const uint8_t V4_DEVICE[4] = {10, 0, 0, 2};
static const uint8_t V4_PEER[4] = {93, 184, 216, 34};
static const uint8_t V6_DEVICE[16] = {0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
static const uint8_t V6_PEER[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53};

#endif
