/* NetX Duo hook: extended packet filter that observes, chains, and never drops. */
#include "microtally_netx.h"

#include <string.h>

#include "microtally_threadx.h"
#include "mt_packet.h"

typedef UINT (*mt_filter_fn)(NX_IP *ip_ptr, NX_PACKET *packet_ptr, UINT direction);

typedef struct {
  NX_IP *ip;
  mt_filter_fn chained; /* the application's filter found at attach time, or NX_NULL */
} mt_netx_slot;

static mt_netx_slot slots[MT_NETX_MAX_IP];
static MT_NETX_STATS stats;

/* Counters are bumped from the IP thread and from any thread that sends. */
static VOID count(ULONG *counter) {
  UINT posture = tx_interrupt_control(TX_INT_DISABLE);
  (*counter)++;
  (void)tx_interrupt_control(posture);
}

/*
 * Points *bytes at the packet's first `want` bytes (or fewer when the packet is shorter):
 * in place when the first buffer holds them, else gathered into `scratch` from the chain.
 * Returns how many bytes are readable; every buffer's bounds come from its own pointers.
 */
static ULONG leading_bytes(NX_PACKET *packet, UCHAR *scratch, ULONG want, const UCHAR **bytes) {
  if (want > packet->nx_packet_length) want = packet->nx_packet_length;
  const UCHAR *start = packet->nx_packet_prepend_ptr;
  const UCHAR *end = packet->nx_packet_append_ptr;
  if (start == NX_NULL || end == NX_NULL || end < start) return 0;
  if ((ULONG)(end - start) >= want) {
    *bytes = start;
    return want;
  }
  ULONG have = 0;
#ifndef NX_DISABLE_PACKET_CHAIN
  NX_PACKET *p = packet;
  for (UINT hops = 0; p != NX_NULL && have < want && hops < MT_NETX_MAX_CHAIN; hops++) {
    const UCHAR *s = p->nx_packet_prepend_ptr;
    const UCHAR *e = p->nx_packet_append_ptr;
    if (s == NX_NULL || e == NX_NULL || e < s) break;
    ULONG n = (ULONG)(e - s);
    if (n > want - have) n = want - have;
    memcpy(scratch + have, s, n);
    have += n;
    p = p->nx_packet_next;
  }
#else
  have = (ULONG)(end - start);
  memcpy(scratch, start, have);
#endif
  *bytes = scratch;
  return have;
}

static VOID observe(NX_PACKET *packet, UINT direction) {
  count(&stats.packets);
  if (packet == NX_NULL) {
    count(&stats.malformed);
    return;
  }
  UCHAR scratch[MT_NETX_HEADER_BYTES];
  const UCHAR *bytes = scratch;
  ULONG avail = leading_bytes(packet, scratch, MT_NETX_HEADER_BYTES, &bytes);
  if (avail == 0) {
    count(&stats.malformed);
    return;
  }
  mt_packet_conn conn;
  switch (mt_packet_parse(bytes, avail, packet->nx_packet_length, direction == NX_IP_PACKET_OUT,
                          &conn)) {
    case MT_PACKET_OK:
      if (mt_tx_post_connection(&conn) == TX_SUCCESS) {
        count(&stats.connections);
      } else {
        count(&stats.not_queued);
      }
      break;
    case MT_PACKET_TRUNCATED:
      count(&stats.truncated);
      break;
    case MT_PACKET_MALFORMED:
      count(&stats.malformed);
      break;
    case MT_PACKET_FRAGMENT:
      count(&stats.fragments);
      break;
    case MT_PACKET_IGNORED_ND:
      count(&stats.ignored_neighbour_discovery);
      break;
    case MT_PACKET_IGNORED_MLD:
      count(&stats.ignored_mld);
      break;
    case MT_PACKET_IGNORED_LINK_MULTICAST:
      count(&stats.ignored_link_multicast);
      break;
    default:
      count(&stats.unsupported);
      break;
  }
}

static mt_netx_slot *slot_of(const NX_IP *ip) {
  for (UINT i = 0; i < MT_NETX_MAX_IP; i++)
    if (slots[i].ip == ip) return &slots[i];
  return NX_NULL;
}

static UINT mt_netx_filter(NX_IP *ip_ptr, NX_PACKET *packet_ptr, UINT direction) {
  observe(packet_ptr, direction);
  const mt_netx_slot *s = slot_of(ip_ptr);
  mt_filter_fn next = s != NX_NULL ? s->chained : NX_NULL;
  if (s == NX_NULL) {
    /* Detached while this packet was in flight: detach restored the application's filter
     * first, so call whatever is installed now (unless that is still this hook). */
    mt_filter_fn now = ip_ptr->nx_ip_packet_filter_extended;
    if (now != mt_netx_filter) next = now;
  }
  return next != NX_NULL ? next(ip_ptr, packet_ptr, direction) : NX_SUCCESS;
}

UINT mt_netx_attach(NX_IP *ip_ptr) {
  if (ip_ptr == NX_NULL) return MT_NETX_PTR_ERROR;
  UINT result = MT_NETX_SUCCESS;
  /* One critical section: the IP thread must never see the hook before its slot is filled. */
  UINT posture = tx_interrupt_control(TX_INT_DISABLE);
  if (slot_of(ip_ptr) != NX_NULL || ip_ptr->nx_ip_packet_filter_extended == mt_netx_filter) {
    result = MT_NETX_ALREADY_ATTACHED;
  } else {
    mt_netx_slot *free_slot = slot_of(NX_NULL);
    if (free_slot == NX_NULL) {
      result = MT_NETX_NO_ROOM;
    } else {
      free_slot->ip = ip_ptr;
      free_slot->chained = ip_ptr->nx_ip_packet_filter_extended;
      ip_ptr->nx_ip_packet_filter_extended = mt_netx_filter;
    }
  }
  (void)tx_interrupt_control(posture);
  return result;
}

UINT mt_netx_detach(NX_IP *ip_ptr) {
  if (ip_ptr == NX_NULL) return MT_NETX_PTR_ERROR;
  UINT result = MT_NETX_SUCCESS;
  UINT posture = tx_interrupt_control(TX_INT_DISABLE);
  mt_netx_slot *s = slot_of(ip_ptr);
  if (s == NX_NULL) {
    result = MT_NETX_NOT_ATTACHED;
  } else {
    if (ip_ptr->nx_ip_packet_filter_extended == mt_netx_filter) {
      ip_ptr->nx_ip_packet_filter_extended = s->chained;
    } else {
      result = MT_NETX_REPLACED;
    }
    s->ip = NX_NULL;
    s->chained = NX_NULL;
  }
  (void)tx_interrupt_control(posture);
  return result;
}

VOID mt_netx_stats_get(MT_NETX_STATS *out) {
  if (out == NX_NULL) return;
  UINT posture = tx_interrupt_control(TX_INT_DISABLE);
  *out = stats;
  (void)tx_interrupt_control(posture);
}
