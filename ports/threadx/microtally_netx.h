/*
 * microtally NetX Duo hook: sees every IP packet of an NX_IP instance through NetX Duo's
 * extended packet filter and posts one connection event per TCP/UDP/ICMP packet to the agent
 * (microtally_threadx.h).
 *
 * Requires NetX Duo built with NX_ENABLE_IP_PACKET_FILTER (the filter members of NX_IP exist
 * only then; the port must see the same setting as the NetX Duo library).
 *
 * The hook chains: a filter the application installed before mt_netx_attach() is saved and
 * called for every packet, and its verdict is returned to NetX Duo unchanged. The hook itself
 * never drops a packet, and it sees each packet before that filter, so packets the
 * application drops are reported too. Packets it cannot read (truncated, malformed, other
 * protocols), later fragments and the link's own noise (IPv6 neighbour discovery, MLD,
 * link-local multicast) are counted in MT_NETX_STATS, never read past, never sent as events.
 */
#ifndef MICROTALLY_NETX_H
#define MICROTALLY_NETX_H

#include "nx_api.h"

#include "microtally_threadx_config_defaults.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifndef NX_ENABLE_IP_PACKET_FILTER
#error \
    "microtally's NetX Duo hook needs NX_ENABLE_IP_PACKET_FILTER (define it for NetX Duo and for this port)"
#endif

/* Return codes of mt_netx_attach / mt_netx_detach. */
#define MT_NETX_SUCCESS 0u
#define MT_NETX_PTR_ERROR 1u        /* ip_ptr is NX_NULL */
#define MT_NETX_ALREADY_ATTACHED 2u /* this NX_IP already runs the hook */
#define MT_NETX_NO_ROOM 3u          /* MT_NETX_MAX_IP instances are attached already */
#define MT_NETX_NOT_ATTACHED 4u     /* detach of an instance the hook is not on */
#define MT_NETX_REPLACED 5u         /* detach: someone overwrote the hook; nothing restored */

typedef struct MT_NETX_STATS_STRUCT {
  ULONG packets;     /* seen by the hook, both directions */
  ULONG connections; /* turned into connection events and handed to the agent */
  ULONG truncated;   /* headers cut short (or not within MT_NETX_HEADER_BYTES) */
  ULONG malformed;   /* impossible header fields, or no packet data at all */
  ULONG fragments;   /* IP fragments after the first: their datagram was counted with the
                        first fragment (not an error) */
  ULONG unsupported; /* IP protocols other than TCP/UDP/ICMP */
  ULONG not_queued;  /* events the agent's queue refused (also in MT_TX_STATS.dropped) */
  /* Ignored: readable, but the link's housekeeping, not connections; never sent to the core
   * (so they take no room in its connection cache). One counter per reason: */
  ULONG ignored_neighbour_discovery; /* ICMPv6 types 133-137 (RS, RA, NS, NA, redirect) */
  ULONG ignored_mld;                 /* ICMPv6 multicast listener messages (130-132, 143) */
  ULONG ignored_link_multicast;      /* to 224.0.0.0/24, ff01::/16 or ff02::/16 */
} MT_NETX_STATS;

/*
 * Installs the hook on ip_ptr, after saving the extended filter already installed there (if
 * any) to call it for every packet. Call after nx_ip_create(), from a thread. Returns
 * MT_NETX_SUCCESS or one of the codes above; on failure ip_ptr is unchanged.
 */
UINT mt_netx_attach(NX_IP *ip_ptr);

/*
 * Puts back the filter mt_netx_attach() saved. Returns MT_NETX_SUCCESS, MT_NETX_NOT_ATTACHED,
 * or MT_NETX_REPLACED when the application overwrote the hook meanwhile (its filter is left).
 */
UINT mt_netx_detach(NX_IP *ip_ptr);

/* Copies the counters (summed over all attached instances). */
VOID mt_netx_stats_get(MT_NETX_STATS *stats);

#ifdef __cplusplus
}
#endif

#endif
