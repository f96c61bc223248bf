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

/* A fragmented UDP datagram is one datagram: the first fragment stands for all of it (bytes
 * from its UDP length, as the sender's whole datagram); later fragments add nothing. */
static void ipv4_fragments(void) {
  uint8_t p[64];
  mt_packet_conn c;
  /* First fragment (more fragments, offset 0) of a 1000-byte UDP datagram: 16 bytes of it here. */
  size_t n = ipv4_header(p, 17, V4_PEER, V4_DEVICE, 16, 5, 0x2000);
  n += udp_header(p + n, 5000, 6000, 1000) + 8;
  CHECK(parse_exact(p, n, n, 0, &c) == MT_PACKET_OK);
  CHECK(c.bytes == 20 + 1000 && c.protocol == MT_PACKET_UDP && c.direction == MT_PACKET_IN);
  CHECK(c.local_port == 6000 && c.remote_port == 5000);
  /* ... with IP options: the header's own length counts. */
  uint8_t q[64];
  n = ipv4_header(q, 17, V4_PEER, V4_DEVICE, 16, 6, 0x2000);
  n += udp_header(q + n, 5000, 6000, 1000) + 8;
  CHECK(parse(q, n, 0, &c) == MT_PACKET_OK && c.bytes == 24 + 1000);
  /* The whole datagram as the sender's filter sees it: the same bytes. */
  uint8_t whole[1100] = {0};
  n = ipv4_header(whole, 17, V4_DEVICE, V4_PEER, 1000, 5, 0);
  n += udp_header(whole + n, 6000, 5000, 1000) + 992;
  CHECK(parse(whole, n, 1, &c) == MT_PACKET_OK && c.bytes == 1020);
  /* A first fragment whose UDP length does not exceed what it carries is impossible. */
  udp_header(p + 20, 5000, 6000, 16);
  CHECK(parse(p, 36, 0, &c) == MT_PACKET_MALFORMED);
  udp_header(p + 20, 5000, 6000, 4);
  CHECK(parse(p, 36, 0, &c) == MT_PACKET_MALFORMED);
  /* A datagram longer than IPv4 allows. */
  udp_header(p + 20, 5000, 6000, 65535 - 19);
  CHECK(parse(p, 36, 0, &c) == MT_PACKET_MALFORMED);
  udp_header(p + 20, 5000, 6000, 65535 - 20);
  CHECK(parse(p, 36, 0, &c) == MT_PACKET_OK && c.bytes == 65535);
  /* Not a fragment (DF, no MF): the UDP length must fit the packet, as before. */
  n = ipv4_header(p, 17, V4_DEVICE, V4_PEER, 16, 5, 0x4000);
  n += udp_header(p + n, 1, 2, 1000) + 8;
  CHECK(parse(p, n, 1, &c) == MT_PACKET_MALFORMED);
  /* Later fragments (offset > 0, with or without MF) carry no transport header: nothing read. */
  n = ipv4_header(p, 17, V4_PEER, V4_DEVICE, 16, 5, 0x2000 | 0x0010);
  memset(p + 20, 0xAB, 16);
  n += 16;
  CHECK(parse(p, n, 0, &c) == MT_PACKET_FRAGMENT);
  put16(p + 6, 0x0020); /* the last one */
  CHECK(parse(p, n, 0, &c) == MT_PACKET_FRAGMENT);
  /* TCP has no length of its own: a first fragment counts with its own length. */
  n = ipv4_header(p, 6, V4_PEER, V4_DEVICE, 24, 5, 0x2000);
  n += tcp_header(p + n, 443, 50000, 5) + 4;
  CHECK(parse(p, n, 0, &c) == MT_PACKET_OK && c.bytes == 44 && c.protocol == MT_PACKET_TCP);
}

static void ipv6_fragments(void) {
  uint8_t p[160];
  mt_packet_conn c;
  /* First fragment of a 3000-byte UDP datagram: the whole datagram had no fragment header. */
  size_t n = ipv6_header(p, 44, V6_PEER, V6_DEVICE, 8 + 8 + 16);
  n += ipv6_fragment(p + n, 17, 0, 1);
  n += udp_header(p + n, 5000, 6000, 3000) + 16;
  CHECK(parse(p, n, 0, &c) == MT_PACKET_OK);
  CHECK(c.bytes == 40 + 3000 && c.family == 6 && c.protocol == MT_PACKET_UDP);
  CHECK(memcmp(c.local, V6_DEVICE, 16) == 0 && c.local_port == 6000 && c.remote_port == 5000);
  /* A hop-by-hop header before the fragment header stays in the datagram. */
  n = ipv6_header(p, 0, V6_PEER, V6_DEVICE, 8 + 8 + 8 + 16);
  n += ipv6_ext(p + n, 44, 1);
  n += ipv6_fragment(p + n, 17, 0, 1);
  n += udp_header(p + n, 5000, 6000, 3000) + 16;
  CHECK(parse(p, n, 0, &c) == MT_PACKET_OK && c.bytes == 40 + 8 + 3000);
  /* The sender's whole datagram: the same bytes. */
  static uint8_t whole[40 + 3000];
  n = ipv6_header(whole, 17, V6_DEVICE, V6_PEER, 3000);
  n += udp_header(whole + n, 6000, 5000, 3000) + 2992;
  CHECK(parse(whole, n, 1, &c) == MT_PACKET_OK && c.bytes == 3040);
  /* Later fragments: nothing. */
  n = ipv6_header(p, 44, V6_PEER, V6_DEVICE, 8 + 16);
  n += ipv6_fragment(p + n, 17, 2, 1);
  memset(p + n, 0xCD, 16);
  n += 16;
  CHECK(parse(p, n, 0, &c) == MT_PACKET_FRAGMENT);
  ipv6_fragment(p + 40, 17, 2, 0);
  CHECK(parse(p, n, 0, &c) == MT_PACKET_FRAGMENT);
  /* An atomic fragment (offset 0, no more): a whole datagram, its UDP length must fit. */
  n = ipv6_header(p, 44, V6_PEER, V6_DEVICE, 8 + 8);
  n += ipv6_fragment(p + n, 17, 0, 0);
  n += udp_header(p + n, 5000, 6000, 8);
  CHECK(parse(p, n, 0, &c) == MT_PACKET_OK && c.bytes == 56);
  udp_header(p + 48, 5000, 6000, 3000);
  CHECK(parse(p, n, 0, &c) == MT_PACKET_MALFORMED);
  /* First fragment with a UDP length it already holds, or two fragment headers: impossible. */
  n = ipv6_header(p, 44, V6_PEER, V6_DEVICE, 8 + 8 + 16);
  n += ipv6_fragment(p + n, 17, 0, 1);
  n += udp_header(p + n, 5000, 6000, 24) + 16;
  CHECK(parse(p, n, 0, &c) == MT_PACKET_MALFORMED);
  n = ipv6_header(p, 44, V6_PEER, V6_DEVICE, 8 + 8 + 8 + 16);
  n += ipv6_fragment(p + n, 44, 0, 1);
  n += ipv6_fragment(p + n, 17, 0, 1);
  n += udp_header(p + n, 5000, 6000, 3000) + 16;
  CHECK(parse(p, n, 0, &c) == MT_PACKET_MALFORMED);
}

/* The link's own housekeeping is readable but not a connection: a reason each. */
static void link_noise(void) {
  static const uint8_t ALL_NODES[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  static const uint8_t SOLICITED[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 1};
  static const uint8_t MLDV2_ROUTERS[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0,
                                            0,    0,    0, 0, 0, 0, 0, 0x16};
  static const uint8_t SITE_GROUP[16] = {0xff, 0x05, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 3};
  static const uint8_t MDNS_V4[4] = {224, 0, 0, 251};
  static const uint8_t SSDP_V4[4] = {239, 255, 255, 250};
  uint8_t p[96];
  mt_packet_conn c;
  /* Neighbour discovery: RS 133 .. redirect 137, whatever the addresses (NA to a peer too). */
  static const unsigned nd[] = {133, 134, 135, 136, 137};
  for (unsigned i = 0; i < 5; i++) {
    size_t n = ipv6_header(p, 58, V6_DEVICE, i == 3 ? V6_PEER : SOLICITED, 24);
    n += icmp_echo(p + n) + 16;
    p[40] = (uint8_t)nd[i];
    CHECK(parse(p, n, 1, &c) == MT_PACKET_IGNORED_ND);
  }
  /* MLD query/report/done and MLDv2 report, behind hop-by-hop (router alert). */
  static const unsigned mld[] = {130, 131, 132, 143};
  for (unsigned i = 0; i < 4; i++) {
    size_t n = ipv6_header(p, 0, V6_DEVICE, MLDV2_ROUTERS, 8 + 8);
    n += ipv6_ext(p + n, 58, 1);
    n += icmp_echo(p + n);
    p[48] = (uint8_t)mld[i];
    CHECK(parse(p, n, 1, &c) == MT_PACKET_IGNORED_MLD);
  }
  /* Echo is not noise, even between link-local addresses; to all-nodes it is. */
  size_t n = ipv6_header(p, 58, V6_PEER, V6_DEVICE, 8);
  n += icmp_echo(p + n);
  p[40] = 128;
  CHECK(parse(p, n, 0, &c) == MT_PACKET_OK && c.protocol == MT_PACKET_ICMP);
  ipv6_header(p, 58, V6_DEVICE, ALL_NODES, 8);
  CHECK(parse(p, n, 1, &c) == MT_PACKET_IGNORED_LINK_MULTICAST);
  /* ICMPv4 type 133 is not neighbour discovery. */
  n = ipv4_header(p, 1, V4_PEER, V4_DEVICE, 8, 5, 0);
  n += icmp_echo(p + n);
  p[20] = 133;
  CHECK(parse(p, n, 0, &c) == MT_PACKET_OK);
  /* mDNS to 224.0.0.251 either way; SSDP (239/8) and site-scope IPv6 groups are connections. */
  n = ipv4_header(p, 17, V4_DEVICE, MDNS_V4, 8, 5, 0);
  n += udp_header(p + n, 5353, 5353, 8);
  CHECK(parse(p, n, 1, &c) == MT_PACKET_IGNORED_LINK_MULTICAST);
  CHECK(parse(p, n, 0, &c) == MT_PACKET_IGNORED_LINK_MULTICAST);
  memcpy(p + 16, SSDP_V4, 4);
  CHECK(parse(p, n, 1, &c) == MT_PACKET_OK && c.remote[0] == 239);
  n = ipv6_header(p, 17, V6_DEVICE, SITE_GROUP, 8);
  n += udp_header(p + n, 547, 547, 8);
  CHECK(parse(p, n, 1, &c) == MT_PACKET_OK);
  p[25] = 0x01; /* ff01:: interface-local */
  CHECK(parse(p, n, 1, &c) == MT_PACKET_IGNORED_LINK_MULTICAST);
  /* Traffic from a multicast source address to us is not filtered by this rule. */
  n = ipv4_header(p, 17, MDNS_V4, V4_DEVICE, 8, 5, 0);
  n += udp_header(p + n, 5353, 5353, 8);
  CHECK(parse(p, n, 0, &c) == MT_PACKET_OK);
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

  /* First fragment parses through; a later one is a fragment (more in ipv6_fragments). */
  n = ipv6_header(p, 44, V6_DEVICE, V6_PEER, 8 + 8 + 8);
  n += ipv6_fragment(p + n, 17, 0, 1);
  n += udp_header(p + n, 7, 9, 1000) + 8;
  CHECK(parse(p, n, 1, &c) == MT_PACKET_OK && c.remote_port == 9 && c.bytes == 1040);
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
    mt_packet_result as_cut_frame = parse_exact(p, k, k, 1, &c); /* the packet itself is short */
    mt_packet_result as_cut_view = parse_exact(p, k, n, 1, &c);  /* only k bytes were visible */
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

/* Whether the packet is the first fragment of a datagram (offset 0, more to come), read
 * independently of the parser: IPv4 MF bit, or an IPv6 fragment header in the chain. */
static int first_fragment(const uint8_t *p, size_t n) {
  if (n >= 20 && (p[0] >> 4) == 4) return (p[6] & 0x20) != 0 && ((p[6] & 0x1f) | p[7]) == 0;
  if (n < 40 || (p[0] >> 4) != 6) return 0;
  unsigned next = p[6];
  for (size_t at = 40; at + 8 <= n;) {
    if (next == 44) return (p[at + 3] & 1) != 0;
    if (next != 0 && next != 43 && next != 60 && next != 51) return 0;
    size_t ext = next == 51 ? ((size_t)p[at + 1] + 2u) * 4u : ((size_t)p[at + 1] + 1u) * 8u;
    next = p[at];
    at += ext;
  }
  return 0;
}

/* Random bytes, and valid packets with random bytes flipped: any verdict, but never a read
 * past `avail` (AddressSanitizer) and never an event claiming more bytes than the packet,
 * except the first fragment of a UDP datagram (the whole datagram, within IP's maximum). */
static void garbage(void) {
  uint32_t seed = 12345;
  unsigned bad = 0, ok = 0, fragments_seen = 0;
  uint8_t p[160];
  for (int i = 0; i < 200000; i++) {
    size_t n;
    if (i & 1) {
      n = 0;
      n += ipv6_header(p, (i & 2) ? 0 : 17, V6_DEVICE, V6_PEER, 16);
      n += ipv6_ext(p + n, 17, 1);
      n += udp_header(p + n, 1, 2, 8);
    } else if (i & 2) {
      n = ipv4_header(p, 6, V4_DEVICE, V4_PEER, 20, 5, 0);
      n += tcp_header(p + n, 1, 2, 5);
    } else { /* the first fragment of a 1,000-byte UDP datagram */
      n = ipv4_header(p, 17, V4_DEVICE, V4_PEER, 16, 5, 0x2000);
      n += udp_header(p + n, 1, 2, 1000) + 8;
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
      int whole_datagram = c.protocol == MT_PACKET_UDP && first_fragment(p, n);
      if (c.bytes > n && !(whole_datagram && c.bytes <= 40u + 0xffffu)) bad++;
      if ((c.family != 4 && c.family != 6) || c.protocol > MT_PACKET_ICMP) bad++;
      if (whole_datagram) fragments_seen++;
    }
  }
  CHECK(bad == 0);
  CHECK(ok > 1000); /* the mutations leave plenty of valid packets too */
  CHECK(fragments_seen > 1000);
  printf("garbage: %u parsed, %u as first fragments of UDP datagrams\n", ok, fragments_seen);
}

int main(void) {
  ipv4_tcp_both_directions();
  ipv4_udp_dns_and_options();
  ipv4_icmp_and_padding();
  ipv4_fragments();
  ipv6_fragments();
  link_noise();
  ipv6_variants();
  unsupported();
  malformed();
  truncations();
  garbage();
  return check_report("mt_packet");
}
