/*
 * A NetX Duo link driver for a Linux TAP device, for NetX Duo on ThreadX's Linux port (tests,
 * simulation): Ethernet frames go to and come from a TAP interface the host (or a test, inside
 * a network namespace of its own) has created, e.g. `ip tuntap add dev mt0 mode tap`.
 *
 *   nx_tap_driver_configure("mt0", 0x0200u, 0x4d540002u);     // before nx_ip_create
 *   nx_ip_create(&ip, "ip", IP_ADDRESS(10,77,0,2), 0xFFFFFF00u, &pool, nx_tap_driver, ...);
 *
 * One interface per program. Frames are read by a ThreadX thread of the driver that polls the
 * non-blocking TAP descriptor (a blocking read would stall the Linux port's scheduler) every
 * NX_TAP_POLL_TICKS when idle, and handed to NetX Duo's deferred receive (IP, ARP, RARP).
 */
#ifndef NX_TAP_DRIVER_H
#define NX_TAP_DRIVER_H

#include "nx_api.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Ticks the receive thread sleeps when the TAP descriptor has no frame. */
#ifndef NX_TAP_POLL_TICKS
#define NX_TAP_POLL_TICKS 1u
#endif
/* Receive thread: priority (above application threads, like an ISR's deferred work) and stack. */
#ifndef NX_TAP_THREAD_PRIORITY
#define NX_TAP_THREAD_PRIORITY 1u
#endif
#ifndef NX_TAP_STACK_BYTES
#define NX_TAP_STACK_BYTES 16384u
#endif

/* Ticks NX_LINK_INITIALIZE waits at most for the kernel to report the TAP device up and running
 * (its carrier comes with the attach, its transmit queue a moment later: see the driver). */
#ifndef NX_TAP_RUNNING_WAIT_TICKS
#define NX_TAP_RUNNING_WAIT_TICKS (5u * TX_TIMER_TICKS_PER_SECOND)
#endif

typedef struct NX_TAP_STATS_STRUCT {
  ULONG frames_sent;
  ULONG frames_received;
  ULONG send_errors;     /* write() to the TAP device failed: the frame is lost */
  ULONG receive_dropped; /* no packet in the pool, or a frame too short or of another type */
} NX_TAP_STATS;

/* Names the TAP device (at most 15 characters) and this interface's MAC address (msw: the top
 * 16 bits). Call before nx_ip_create. Returns NX_SUCCESS or NX_PTR_ERROR / NX_SIZE_ERROR. */
UINT nx_tap_driver_configure(const CHAR *tap_name, ULONG mac_msw, ULONG mac_lsw);

/* The driver entry NetX Duo calls (pass it to nx_ip_create). NX_LINK_INITIALIZE opens the TAP
 * device and waits until the kernel transmits on it (up and running): when either fails the
 * request returns NX_NOT_SUCCESSFUL and says why on stderr. */
VOID nx_tap_driver(NX_IP_DRIVER *driver_req_ptr);

VOID nx_tap_driver_stats_get(NX_TAP_STATS *stats);

#ifdef __cplusplus
}
#endif

#endif
