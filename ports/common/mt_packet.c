/* IPv4/IPv6 + TCP/UDP/ICMP header parsing for the capture hooks; see mt_packet.h. */
#include "mt_packet.h"

#include <string.h>

#define IPV4_MIN_HEADER 20u
#define IPV6_HEADER 40u
#define TCP_MIN_HEADER 20u
#define UDP_HEADER 8u
#define ICMP_HEADER 8u
#define DNS_PORT 53u
/* More extension headers than any sane packet carries: stop, count it malformed. */
#define IPV6_MAX_EXTENSIONS 8

enum {
  IPPROTO_HOPOPTS_ = 0,
  IPPROTO_ICMP_ = 1,
  IPPROTO_TCP_ = 6,
  IPPROTO_UDP_ = 17,
  IPPROTO_ROUTING_ = 43,
  IPPROTO_FRAGMENT_ = 44,
  IPPROTO_AH_ = 51,
  IPPROTO_ICMPV6_ = 58,
  IPPROTO_DSTOPTS_ = 60,
};

static uint16_t be16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }

/* What the IP layer found besides the transport header's place. */
typedef struct {
  unsigned proto;         /* the transport protocol number */
  size_t transport_at;    /* offset of the transport header */
  size_t total;           /* the datagram's length per its IP header */
  int first_fragment;     /* offset 0 with more fragments to come: the transport header covers
                             the whole datagram, this packet only part of it */
  size_t fragment_header; /* bytes of an IPv6 fragment header before the transport header,
                             which the unfragmented datagram does not carry */
} ip_layer;

/*
 * The transport header at `t`: `len` bytes belong to it per the IP header, `avail` of
 * them are readable. Fills protocol and ports (source/destination order). For the first
 * fragment of a UDP datagram, *udp_len is the whole datagram's UDP length (more than this
 * fragment carries); 0 otherwise.
 */
static mt_packet_result transport(unsigned proto, const uint8_t *t, size_t len, size_t avail,
                                  int first_fragment, uint16_t *src, uint16_t *dst,
                                  uint8_t *protocol, size_t *udp_len_out) {
  *udp_len_out = 0;
  switch (proto) {
    case IPPROTO_TCP_: {
      if (len < TCP_MIN_HEADER) return MT_PACKET_MALFORMED;
      if (avail < TCP_MIN_HEADER) return MT_PACKET_TRUNCATED;
      size_t data_offset = (size_t)(t[12] >> 4) * 4u;
      if (data_offset < TCP_MIN_HEADER || data_offset > len) return MT_PACKET_MALFORMED;
      *src = be16(t);
      *dst = be16(t + 2);
      *protocol = MT_PACKET_TCP;
      return MT_PACKET_OK;
    }
    case IPPROTO_UDP_: {
      if (len < UDP_HEADER) return MT_PACKET_MALFORMED;
      if (avail < UDP_HEADER) return MT_PACKET_TRUNCATED;
      size_t udp_len = be16(t + 4);
      if (udp_len < UDP_HEADER) return MT_PACKET_MALFORMED;
      /* A first fragment carries part of the datagram: its UDP length must say more. */
      if (first_fragment ? udp_len <= len : udp_len > len) return MT_PACKET_MALFORMED;
      if (first_fragment) *udp_len_out = udp_len;
      *src = be16(t);
      *dst = be16(t + 2);
      *protocol = MT_PACKET_UDP;
      return MT_PACKET_OK;
    }
    case IPPROTO_ICMP_:
    case IPPROTO_ICMPV6_:
      if (len < ICMP_HEADER) return MT_PACKET_MALFORMED;
      if (avail < ICMP_HEADER) return MT_PACKET_TRUNCATED;
      *src = 0;
      *dst = 0;
      *protocol = MT_PACKET_ICMP;
      return MT_PACKET_OK;
    default:
      return MT_PACKET_UNSUPPORTED;
  }
}

static mt_packet_result ipv4(const uint8_t *ip, size_t avail, size_t length, ip_layer *l) {
  if (avail < IPV4_MIN_HEADER) return MT_PACKET_TRUNCATED;
  size_t header = (size_t)(ip[0] & 0x0fu) * 4u;
  size_t stated = be16(ip + 2);
  if (header < IPV4_MIN_HEADER || stated < header) return MT_PACKET_MALFORMED;
  if (stated > length || header > avail) return MT_PACKET_TRUNCATED;
  unsigned fragment = be16(ip + 6);
  if ((fragment & 0x1fffu) != 0) return MT_PACKET_FRAGMENT;
  l->first_fragment = (fragment & 0x2000u) != 0; /* more fragments */
  l->fragment_header = 0;
  l->proto = ip[9];
  l->transport_at = header;
  l->total = stated;
  return MT_PACKET_OK;
}

static mt_packet_result ipv6(const uint8_t *ip, size_t avail, size_t length, ip_layer *l) {
  if (avail < IPV6_HEADER) return MT_PACKET_TRUNCATED;
  size_t payload = be16(ip + 4);
  if (payload == 0) return MT_PACKET_UNSUPPORTED; /* jumbogram or nothing to carry */
  size_t stated = IPV6_HEADER + payload;
  if (stated > length) return MT_PACKET_TRUNCATED;
  size_t seen = avail < stated ? avail : stated;
  unsigned next = ip[6];
  size_t at = IPV6_HEADER;
  l->first_fragment = 0;
  l->fragment_header = 0;
  for (int hops = 0; hops <= IPV6_MAX_EXTENSIONS; hops++) {
    size_t ext;
    switch (next) {
      case IPPROTO_TCP_:
      case IPPROTO_UDP_:
      case IPPROTO_ICMPV6_:
        l->proto = next;
        l->transport_at = at;
        l->total = stated;
        return MT_PACKET_OK;
      case IPPROTO_HOPOPTS_:
      case IPPROTO_ROUTING_:
      case IPPROTO_DSTOPTS_:
      case IPPROTO_AH_:
      case IPPROTO_FRAGMENT_:
        if (at + 8u > stated) return MT_PACKET_MALFORMED; /* every one is >= 8 bytes */
        if (at + 8u > seen) return MT_PACKET_TRUNCATED;
        if (next == IPPROTO_FRAGMENT_) {
          unsigned fragment = be16(ip + at + 2);
          if ((fragment & 0xfff8u) != 0) return MT_PACKET_FRAGMENT;
          if (l->fragment_header != 0) return MT_PACKET_MALFORMED; /* two fragment headers */
          l->first_fragment = (fragment & 1u) != 0;                /* M: more fragments */
          l->fragment_header = 8u;
          ext = 8u;
        } else if (next == IPPROTO_AH_) {
          ext = ((size_t)ip[at + 1] + 2u) * 4u;
        } else {
          ext = ((size_t)ip[at + 1] + 1u) * 8u;
        }
        next = ip[at];
        at += ext;
        if (at > stated) return MT_PACKET_MALFORMED;
        break;
      default:
        return MT_PACKET_UNSUPPORTED; /* ESP, no next header, or another protocol */
    }
  }
  return MT_PACKET_MALFORMED;
}

/* Neighbour discovery (RFC 4861) and multicast listener (RFC 2710, 3810) messages: the IPv6
 * link's own housekeeping, not connections. */
static mt_packet_result icmpv6_noise(unsigned type) {
  if (type >= 133u && type <= 137u) return MT_PACKET_IGNORED_ND;
  if ((type >= 130u && type <= 132u) || type == 143u) return MT_PACKET_IGNORED_MLD;
  return MT_PACKET_OK;
}

/* Multicast that never leaves the link: IPv4 224.0.0.0/24, IPv6 ff01::/16 and ff02::/16. */
static int link_local_multicast(const uint8_t *dst, unsigned version) {
  if (version == 4) return dst[0] == 224u && dst[1] == 0u && dst[2] == 0u;
  return dst[0] == 0xffu && ((dst[1] & 0x0fu) == 0x01u || (dst[1] & 0x0fu) == 0x02u);
}

mt_packet_result mt_packet_parse(const uint8_t *ip, size_t avail, size_t length, int outbound,
                                 mt_packet_conn *out) {
  if (ip == NULL || out == NULL || avail == 0) return MT_PACKET_TRUNCATED;
  if (avail > length) avail = length; /* bytes past the packet's end are not its own */
  if (avail == 0) return MT_PACKET_TRUNCATED;
  unsigned version = ip[0] >> 4;
  ip_layer l;
  size_t addr_len, src_at, dst_at, max_total;
  mt_packet_result r;
  if (version == 4) {
    r = ipv4(ip, avail, length, &l);
    addr_len = 4;
    src_at = 12;
    dst_at = 16;
    max_total = 0xffffu;
  } else if (version == 6) {
    r = ipv6(ip, avail, length, &l);
    addr_len = 16;
    src_at = 8;
    dst_at = 24;
    max_total = IPV6_HEADER + 0xffffu;
  } else {
    return MT_PACKET_MALFORMED;
  }
  if (r != MT_PACKET_OK) return r;

  size_t at = l.transport_at, total = l.total;
  size_t seen = avail < total ? avail : total;
  uint16_t src_port = 0, dst_port = 0;
  uint8_t protocol = 0;
  size_t udp_len = 0;
  r = transport(l.proto, ip + at, total - at, seen > at ? seen - at : 0, l.first_fragment,
                &src_port, &dst_port, &protocol, &udp_len);
  if (r != MT_PACKET_OK) return r;
  if (udp_len != 0) {
    /* The first fragment of a UDP datagram stands for the whole datagram, as it was before
     * fragmenting (without the IPv6 fragment header): the later fragments add nothing. */
    total = at - l.fragment_header + udp_len;
    if (total > max_total) return MT_PACKET_MALFORMED;
  }

  const uint8_t *src = ip + src_at, *dst = ip + dst_at;
  if (l.proto == IPPROTO_ICMPV6_ && version == 6) {
    r = icmpv6_noise(ip[at]);
    if (r != MT_PACKET_OK) return r;
  }
  if (link_local_multicast(dst, version)) return MT_PACKET_IGNORED_LINK_MULTICAST;

  memset(out, 0, sizeof *out);
  memcpy(out->local, outbound ? src : dst, addr_len);
  memcpy(out->remote, outbound ? dst : src, addr_len);
  out->local_port = outbound ? src_port : dst_port;
  out->remote_port = outbound ? dst_port : src_port;
  out->bytes = (uint32_t)total;
  out->protocol = protocol;
  out->direction = outbound ? MT_PACKET_OUT : MT_PACKET_IN;
  out->family = (uint8_t)version;
  out->app = (protocol != MT_PACKET_ICMP && (src_port == DNS_PORT || dst_port == DNS_PORT))
                 ? MT_PACKET_APP_DNS
                 : MT_PACKET_APP_NONE;
  return MT_PACKET_OK;
}
