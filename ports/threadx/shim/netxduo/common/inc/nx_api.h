/*
 * TEST DOUBLE — NOT NetX Duo. The part of NetX Duo's nx_api.h that ports/threadx uses: the
 * packet and IP control blocks with the members the port reads, under their real names and
 * conditions, and the constants it compares with. See ports/threadx/shim/README.md.
 */
#ifndef NX_API_H
#define NX_API_H

#include "tx_api.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NX_NULL TX_NULL
#define NX_SUCCESS ((UINT)0x00)
#define NX_NOT_SUCCESSFUL ((UINT)0x43)

#ifdef NX_ENABLE_IP_PACKET_FILTER
#define NX_IP_PACKET_IN 0
#define NX_IP_PACKET_OUT 1
#endif

typedef struct NX_PACKET_STRUCT {
  struct NX_PACKET_POOL_STRUCT *nx_packet_pool_owner; /* unused by the port */
#ifndef NX_DISABLE_PACKET_CHAIN
  struct NX_PACKET_STRUCT *nx_packet_next;
  struct NX_PACKET_STRUCT *nx_packet_last;
#endif
  ULONG nx_packet_length;
  UCHAR *nx_packet_data_start;
  UCHAR *nx_packet_data_end;
  UCHAR *nx_packet_prepend_ptr;
  UCHAR *nx_packet_append_ptr;
} NX_PACKET;

typedef struct NX_IP_STRUCT {
  ULONG nx_ip_id;
  CHAR *nx_ip_name;
#ifdef NX_ENABLE_IP_PACKET_FILTER
  UINT (*nx_ip_packet_filter)(VOID *, UINT);
  UINT (*nx_ip_packet_filter_extended)(struct NX_IP_STRUCT *ip_ptr, NX_PACKET *packet_ptr,
                                       UINT direction);
#endif
} NX_IP;

#ifdef __cplusplus
}
#endif

#endif
