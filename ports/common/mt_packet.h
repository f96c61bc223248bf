/*
 * mt_packet: turns the IP header of one packet into a connection event.
 *
 * Pure C over a byte buffer: no ThreadX, no NetX Duo, no allocation, so it is tested on the
 * host with crafted packets (ports/threadx/test/) and shared by every capture hook.
 *
 * Every read is bounds-checked against `avail`, the bytes the caller could see; a packet
 * whose headers do not fit is reported, never read past.
 */
#ifndef MT_PACKET_H
#define MT_PACKET_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Values of the typed connection record (docs/ABI.md). */
#define MT_PACKET_TCP 0u
#define MT_PACKET_UDP 1u
#define MT_PACKET_ICMP 2u
#define MT_PACKET_IN 0u
#define MT_PACKET_OUT 1u
#define MT_PACKET_APP_NONE 0u
#define MT_PACKET_APP_DNS 1u

/* One observed packet as a connection event; 44 bytes, plain data (queue-safe). */
typedef struct mt_packet_conn {
  uint8_t local[16]; /* IPv4: first 4 bytes, rest zero */
  uint8_t remote[16];
  uint16_t local_port; /* 0 for ICMP */
  uint16_t remote_port;
  uint32_t bytes;    /* the IP datagram's length (header + payload) per its header; for
                        the first fragment of a UDP datagram, the whole datagram's */
  uint8_t protocol;  /* MT_PACKET_TCP, _UDP, _ICMP (ICMPv6 counts as ICMP) */
  uint8_t direction; /* MT_PACKET_IN, _OUT */
  uint8_t family;    /* 4 or 6 */
  uint8_t app;       /* MT_PACKET_APP_NONE, _DNS (TCP or UDP port 53 on either side) */
} mt_packet_conn;

typedef enum mt_packet_result {
  MT_PACKET_OK = 0,      /* *out holds the event */
  MT_PACKET_TRUNCATED,   /* a header (or the datagram) ends before its stated length */
  MT_PACKET_MALFORMED,   /* a header field is impossible (version, lengths, offsets) */
  MT_PACKET_FRAGMENT,    /* a non-first fragment: its datagram was counted with the first */
  MT_PACKET_UNSUPPORTED, /* IP, but not TCP/UDP/ICMP (or ESP, no-next-header, jumbogram) */
  /* Readable, but the link's housekeeping rather than a connection (not an event): */
  MT_PACKET_IGNORED_ND,            /* ICMPv6 neighbour discovery: router/neighbour solicitation and
                                      advertisement, redirect (types 133-137) */
  MT_PACKET_IGNORED_MLD,           /* ICMPv6 multicast listener query/report/done (130-132, 143) */
  MT_PACKET_IGNORED_LINK_MULTICAST /* to a multicast group that never leaves the link:
                              224.0.0.0/24, ff01::/16, ff02::/16 (mDNS, LLMNR, all-nodes...) */
} mt_packet_result;

/*
 * Parses the packet at `ip` (first byte = IP version nibble).
 *   avail     bytes readable at `ip` (headers are read only from these)
 *   length    the packet's full length as the stack knows it (>= avail normally)
 *   outbound  0 for a received packet, nonzero for a sent one (decides local vs remote)
 * Returns MT_PACKET_OK and fills *out, or a reason and leaves *out unspecified.
 * Fragments: the first fragment of a UDP datagram is the whole datagram (out->bytes from its
 * UDP length, as the sender's unfragmented datagram); later fragments are MT_PACKET_FRAGMENT.
 * TCP and ICMP carry no length of their own: a first fragment counts with its own length.
 */
mt_packet_result mt_packet_parse(const uint8_t *ip, size_t avail, size_t length, int outbound,
                                 mt_packet_conn *out);

#ifdef __cplusplus
}
#endif

#endif
