/* mt_packet on crafted packets: every protocol and direction, and every way a header can be
 * cut short or garbled. Run under AddressSanitizer: each parse gets a heap buffer of exactly
 * `avail` bytes, so a single read past the end fails the run. */
#include <stdlib.h>

#include "check.h"
#include "mt_packet.h"
#include "packets.h"

/* Parses a copy of pkt[0..avail) in a buffer of exactly that size. */
static mt_packet_result parse_exact(const uint8_t *pkt, size_t avail, size_t length, int outbound,
                                    mt_packet_conn *c) {
  uint8_t *copy = malloc(avail ? avail : 1);
  if (avail) memcpy(copy, pkt, avail);
  mt_packet_result r = mt_packet_parse(avail ? copy : NULL, avail, length, outbound, c);
  free(copy);
  return r;
}

static mt_packet_result parse(const uint8_t *pkt, size_t n, int outbound, mt_packet_conn *c) {
  return parse_exact(pkt, n, n, outbound, c);
}

static int zero(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i]) return 0;
  return 1;
}

static void ipv4_tcp_both_directions(void) {
  uint8_t p[64];
  size_t n = ipv4_header(p, 6, V4_DEVICE, V4_PEER, 20 + 12, 5, 0x4000 /* DF */);
  n += tcp_header(p + n, 50000, 443, 5) + 12; /* 12 payload bytes */
  mt_packet_conn c;
  CHECK(parse(p, n, 1, &c) == MT_PACKET_OK);
  CHECK(memcmp(c.local, V4_DEVICE, 4) == 0 && zero(c.local + 4, 12));
  CHECK(memcmp(c.remote, V4_PEER, 4) == 0 && zero(c.remote + 4, 12));
  CHECK(c.local_port == 50000 && c.remote_port == 443);
  CHECK(c.protocol == MT_PACKET_TCP && c.direction == MT_PACKET_OUT && c.family == 4);
  CHECK(c.bytes == 52 && c.app == MT_PACKET_APP_NONE);

  /* The reply: same connection seen from the device, direction in. */
  n = ipv4_header(p, 6, V4_PEER, V4_DEVICE, 20, 5, 0);
  n += tcp_header(p + n, 443, 50000, 5);
  CHECK(parse(p, n, 0, &c) == MT_PACKET_OK);
  CHECK(memcmp(c.local, V4_DEVICE, 4) == 0 && memcmp(c.remote, V4_PEER, 4) == 0);
  CHECK(c.local_port == 50000 && c.remote_port == 443);
  CHECK(c.direction == MT_PACKET_IN && c.bytes == 40);
}

static void ipv4_udp_dns_and_options(void) {
  uint8_t p[64];
  mt_packet_conn c;
  size_t n = ipv4_header(p, 17, V4_DEVICE, V4_PEER, 8 + 20, 5, 0);
  n += udp_header(p + n, 40000, 53, 28) + 20;
  CHECK(parse(p, n, 1, &c) == MT_PACKET_OK);
  CHECK(c.protocol == MT_PACKET_UDP && c.app == MT_PACKET_APP_DNS && c.remote_port == 53);

  /* Answer from the server: source port 53, inbound. */
  n = ipv4_header(p, 17, V4_PEER, V4_DEVICE, 8, 5, 0);
  n += udp_header(p + n, 53, 40000, 8);
  CHECK(parse(p, n, 0, &c) == MT_PACKET_OK);
  CHECK(c.app == MT_PACKET_APP_DNS && c.local_port == 40000 && c.direction == MT_PACKET_IN);

  /* DNS over TCP is DNS too. */
  n = ipv4_header(p, 6, V4_DEVICE, V4_PEER, 20, 5, 0);
  n += tcp_header(p + n, 40001, 53, 5);
  CHECK(parse(p, n, 1, &c) == MT_PACKET_OK && c.app == MT_PACKET_APP_DNS);

  /* Not DNS: port 5353. */
  n = ipv4_header(p, 17, V4_DEVICE, V4_PEER, 8, 5, 0);
  n += udp_header(p + n, 5353, 5353, 8);
  CHECK(parse(p, n, 1, &c) == MT_PACKET_OK && c.app == MT_PACKET_APP_NONE);

  /* 8 bytes of IP options before UDP. */
  n = ipv4_header(p, 17, V4_DEVICE, V4_PEER, 8, 7, 0);
  n += udp_header(p + n, 1000, 2000, 8);
  CHECK(parse(p, n, 1, &c) == MT_PACKET_OK && c.local_port == 1000 && c.bytes == 36);
}

static void ipv4_icmp_and_padding(void) {
  uint8_t p[64] = {0};
  mt_packet_conn c;
  size_t n = ipv4_header(p, 1, V4_PEER, V4_DEVICE, 8, 5, 0);
  n += icmp_echo(p + n);
  CHECK(parse(p, n, 0, &c) == MT_PACKET_OK);
  CHECK(c.protocol == MT_PACKET_ICMP && c.local_port == 0 && c.remote_port == 0);
  CHECK(c.app == MT_PACKET_APP_NONE && c.bytes == 28);
  /* Ethernet pads short frames to 46 bytes of payload: bytes still come from the IP header. */
  CHECK(parse(p, 46, 0, &c) == MT_PACKET_OK && c.bytes == 28);
}

static void ipv4_fragments(void) {
  uint8_t p[64];
  mt_packet_conn c;
  /* First fragment (more fragments, offset 0) still has the UDP header. */
  size_t n = ipv4_header(p, 17, V4_DEVICE, V4_PEER, 16, 5, 0x2000);
  n += udp_header(p + n, 1, 2, 1000) + 8;
  /* UDP length 1000 > what this fragment carries: still malformed for a lone datagram. */
  CHECK(parse(p, n, 1, &c) == MT_PACKET_MALFORMED);
  udp_header(p + 20, 1, 2, 16);
  CHECK(parse(p, n, 1, &c) == MT_PACKET_OK);
  /* A later fragment has no transport header: counted as a fragment, nothing read. */
  n = ipv4_header(p, 17, V4_DEVICE, V4_PEER, 16, 5, 0x0010);
  memset(p + 20, 0xAB, 16);
  n += 16;
  CHECK(parse(p, n, 1, &c) == MT_PACKET_FRAGMENT);
}

static void ipv6_variants(void) {
  uint8_t p[160];
  mt_packet_conn c;
  size_t n = ipv6_header(p, 6, V6_PEER, V6_DEVICE, 20);
  n += tcp_header(p + n, 443, 50000, 5);
  CHECK(parse(p, n, 0, &c) == MT_PACKET_OK);
  CHECK(memcmp(c.local, V6_DEVICE, 16) == 0 && memcmp(c.remote, V6_PEER, 16) == 0);
  CHECK(c.family == 6 && c.protocol == MT_PACKET_TCP && c.local_port == 50000);
  CHECK(c.bytes == 60 && c.direction == MT_PACKET_IN);

  /* Hop-by-hop (8) + destination options (16) + UDP to port 53. */
  n = ipv6_header(p, 0, V6_DEVICE, V6_PEER, 8 + 16 + 8);
  n += ipv6_ext(p + n, 60, 1);
  n += ipv6_ext(p + n, 17, 2);
  n += udp_header(p + n, 40000, 53, 8);
  CHECK(parse(p, n, 1, &c) == MT_PACKET_OK);
  CHECK(c.protocol == MT_PACKET_UDP && c.app == MT_PACKET_APP_DNS && c.bytes == 72);
  CHECK(memcmp(c.local, V6_DEVICE, 16) == 0 && c.local_port == 40000);

  /* ICMPv6 counts as icmp. */
  n = ipv6_header(p, 58, V6_PEER, V6_DEVICE, 8);
  n += icmp_echo(p + n);
  CHECK(parse(p, n, 0, &c) == MT_PACKET_OK && c.protocol == MT_PACKET_ICMP && c.family == 6);

  /* First fragment parses through; a later one is a fragment. */
  n = ipv6_header(p, 44, V6_DEVICE, V6_PEER, 8 + 8);
  n += ipv6_fragment(p + n, 17, 0, 1);
  n += udp_header(p + n, 7, 9, 8);
  CHECK(parse(p, n, 1, &c) == MT_PACKET_OK && c.remote_port == 9);
  ipv6_fragment(p + 40, 17, 3, 0);
  CHECK(parse(p, n, 1, &c) == MT_PACKET_FRAGMENT);

  /* Authentication header: (len + 2) * 4 bytes. */
  n = ipv6_header(p, 51, V6_DEVICE, V6_PEER, 16 + 20);
  memset(p + n, 0, 16);
  p[n] = 6;
  p[n + 1] = 2; /* (2 + 2) * 4 = 16 */
  n += 16;
  n += tcp_header(p + n, 22, 2222, 5);
  CHECK(parse(p, n, 1, &c) == MT_PACKET_OK && c.local_port == 22 && c.protocol == MT_PACKET_TCP);
}

static void unsupported(void) {
  uint8_t p[64];
  mt_packet_conn c;
  size_t n = ipv4_header(p, 2 /* IGMP */, V4_DEVICE, V4_PEER, 8, 5, 0);
  memset(p + n, 0, 8);
  CHECK(parse(p, n + 8, 1, &c) == MT_PACKET_UNSUPPORTED);
  n = ipv6_header(p, 59 /* no next header */, V6_DEVICE, V6_PEER, 8);
  memset(p + n, 0, 8);
  CHECK(parse(p, n + 8, 1, &c) == MT_PACKET_UNSUPPORTED);
  n = ipv6_header(p, 50 /* ESP */, V6_DEVICE, V6_PEER, 8);
  CHECK(parse(p, n + 8, 1, &c) == MT_PACKET_UNSUPPORTED);
  n = ipv6_header(p, 6, V6_DEVICE, V6_PEER, 0); /* jumbogram marker */
  CHECK(parse(p, n, 1, &c) == MT_PACKET_UNSUPPORTED);
}

static void malformed(void) {
  uint8_t p[160];
  mt_packet_conn c;
  size_t n = ipv4_header(p, 6, V4_DEVICE, V4_PEER, 20, 5, 0);
  tcp_header(p + n, 1, 2, 5);
  n += 20;
  p[0] = 0x55; /* version 5 */
  CHECK(parse(p, n, 1, &c) == MT_PACKET_MALFORMED);
  p[0] = 0x44; /* header length 16 */
  CHECK(parse(p, n, 1, &c) == MT_PACKET_MALFORMED);
  p[0] = 0x45;
  put16(p + 2, 16); /* total length below the header */
  CHECK(parse(p, n, 1, &c) == MT_PACKET_MALFORMED);
  put16(p + 2, 20); /* TCP with no room for its header */
  CHECK(parse(p, n, 1, &c) == MT_PACKET_MALFORMED);
  put16(p + 2, 40);
  p[32] = 0x40; /* TCP data offset 4 words */
  CHECK(parse(p, n, 1, &c) == MT_PACKET_MALFORMED);
  p[32] = 0xF0; /* 60 bytes: more than the segment */
  CHECK(parse(p, n, 1, &c) == MT_PACKET_MALFORMED);
  p[32] = 0x50;
  CHECK(parse(p, n, 1, &c) == MT_PACKET_OK);

  n = ipv4_header(p, 17, V4_DEVICE, V4_PEER, 8, 5, 0);
  n += udp_header(p + n, 1, 2, 7);
  CHECK(parse(p, n, 1, &c) == MT_PACKET_MALFORMED);
  udp_header(p + 20, 1, 2, 9);
  CHECK(parse(p, n, 1, &c) == MT_PACKET_MALFORMED);

  n = ipv4_header(p, 1, V4_DEVICE, V4_PEER, 4, 5, 0);
  memset(p + n, 0, 4);
  CHECK(parse(p, n + 4, 1, &c) == MT_PACKET_MALFORMED); /* ICMP shorter than its header */

  /* An extension header claiming more than the payload. */
  n = ipv6_header(p, 0, V6_DEVICE, V6_PEER, 16);
  n += ipv6_ext(p + n, 17, 1);
  n += udp_header(p + n, 1, 2, 8);
  p[41] = 5; /* 48 bytes */
  CHECK(parse(p, n, 1, &c) == MT_PACKET_MALFORMED);

  /* A chain of more extension headers than the parser follows. */
  n = ipv6_header(p, 60, V6_DEVICE, V6_PEER, 10 * 8 + 8);
  for (int i = 0; i < 10; i++) n += ipv6_ext(p + n, 60, 1);
  n += udp_header(p + n, 1, 2, 8);
  CHECK(parse(p, n, 1, &c) == MT_PACKET_MALFORMED);

  CHECK(mt_packet_parse(p, 0, 0, 1, &c) == MT_PACKET_TRUNCATED);
  CHECK(mt_packet_parse(NULL, 10, 10, 1, &c) == MT_PACKET_TRUNCATED);
  p[0] = 0x00; /* garbage first byte */
  CHECK(parse(p, 40, 1, &c) == MT_PACKET_MALFORMED);
}

/* Every prefix of a valid packet: truncated (or a malformed verdict reached before the cut),
 * never OK, never a read past the prefix. */
static void every_truncation(const uint8_t *p, size_t n) {
  mt_packet_conn c;
  unsigned bad = 0;
  for (size_t k = 0; k < n; k++) {
    mt_packet_result as_cut_frame = parse_exact(p, k, k, 1, &c);     /* the packet itself is short */
    mt_packet_result as_cut_view = parse_exact(p, k, n, 1, &c);      /* only k bytes were visible */
    if (as_cut_frame == MT_PACKET_OK || as_cut_view == MT_PACKET_OK) bad++;
    if (as_cut_frame != MT_PACKET_TRUNCATED && as_cut_frame != MT_PACKET_MALFORMED) bad++;
  }
  CHECK(bad == 0);
  CHECK(parse(p, n, 1, &c) == MT_PACKET_OK);
}

static void truncations(void) {
  uint8_t p[160];
  size_t n = ipv4_header(p, 6, V4_DEVICE, V4_PEER, 20, 6, 0);
  n += tcp_header(p + n, 1, 2, 5);
  every_truncation(p, n);
  n = ipv4_header(p, 17, V4_DEVICE, V4_PEER, 8, 5, 0);
  n += udp_header(p + n, 1, 53, 8);
  every_truncation(p, n);
  n = ipv4_header(p, 1, V4_DEVICE, V4_PEER, 8, 5, 0);
  n += icmp_echo(p + n);
  every_truncation(p, n);
  n = ipv6_header(p, 0, V6_DEVICE, V6_PEER, 8 + 8 + 20);
  n += ipv6_ext(p + n, 44, 1);
  n += ipv6_fragment(p + n, 6, 0, 0);
  n += tcp_header(p + n, 3, 4, 5);
  every_truncation(p, n);
}

/* Random bytes, and valid packets with random bytes flipped: any verdict, but never a read
 * past `avail` (AddressSanitizer) and never an event claiming more bytes than the packet. */
static void garbage(void) {
  uint32_t seed = 12345;
  unsigned bad = 0, ok = 0;
  uint8_t p[160];
  for (int i = 0; i < 200000; i++) {
    size_t n;
    if (i & 1) {
      n = 0;
      n += ipv6_header(p, (i & 2) ? 0 : 17, V6_DEVICE, V6_PEER, 16);
      n += ipv6_ext(p + n, 17, 1);
      n += udp_header(p + n, 1, 2, 8);
    } else {
      n = ipv4_header(p, 6, V4_DEVICE, V4_PEER, 20, 5, 0);
      n += tcp_header(p + n, 1, 2, 5);
    }
    for (int k = 0; k < 3; k++) {
      seed = seed * 1664525u + 1013904223u;
      p[(seed >> 8) % n] = (uint8_t)(seed >> 24);
    }
    seed = seed * 1664525u + 1013904223u;
    if ((seed >> 28) == 0) n = (seed >> 8) % (n + 1); /* sometimes cut, too */
    seed = seed * 1664525u + 1013904223u;
    if ((seed >> 29) == 0) { /* sometimes pure noise */
      n = (seed >> 8) % sizeof p;
      for (size_t k = 0; k < n; k++) {
        seed = seed * 1664525u + 1013904223u;
        p[k] = (uint8_t)(seed >> 24);
      }
    }
    mt_packet_conn c;
    if (parse(p, n, (int)(seed & 1), &c) == MT_PACKET_OK) {
      ok++;
      if (c.bytes > n || (c.family != 4 && c.family != 6) || c.protocol > MT_PACKET_ICMP) bad++;
    }
  }
  CHECK(bad == 0);
  CHECK(ok > 1000); /* the mutations leave plenty of valid packets too */
}

int main(void) {
  ipv4_tcp_both_directions();
  ipv4_udp_dns_and_options();
  ipv4_icmp_and_padding();
  ipv4_fragments();
  ipv6_variants();
  unsupported();
  malformed();
  truncations();
  garbage();
  return check_report("mt_packet");
}
