/* NetX Duo link driver for a Linux TAP device: see nx_tap_driver.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "nx_tap_driver.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define TAP_ETHERNET_SIZE 14u
#define TAP_ETHERNET_IP 0x0800u
#define TAP_ETHERNET_ARP 0x0806u
#define TAP_ETHERNET_RARP 0x8035u
#define TAP_ETHERNET_IPV6 0x86DDu
#define TAP_MTU 1500u
#define TAP_FRAME_MAX (TAP_ETHERNET_SIZE + TAP_MTU)

static CHAR tap_name[IFNAMSIZ];
static ULONG tap_mac_msw, tap_mac_lsw;
static int tap_fd = -1;
static NX_IP *tap_ip;
static NX_INTERFACE *tap_interface;
static TX_THREAD tap_thread;
static UCHAR tap_stack[NX_TAP_STACK_BYTES];
static UINT tap_thread_created;
static TX_MUTEX tap_send_mutex;
/* One frame at a time is assembled here (a chained packet is linearised for write()). */
static UCHAR tap_send_frame[TAP_FRAME_MAX];
static UCHAR tap_receive_frame[TAP_FRAME_MAX + 64u];
static NX_TAP_STATS tap_stats;

UINT nx_tap_driver_configure(const CHAR *name, ULONG mac_msw, ULONG mac_lsw) {
  if (name == NX_NULL) return NX_PTR_ERROR;
  size_t length = strlen(name);
  if (length == 0u || length >= sizeof tap_name) return NX_SIZE_ERROR;
  memcpy(tap_name, name, length + 1u);
  tap_mac_msw = mac_msw & 0xFFFFu;
  tap_mac_lsw = mac_lsw;
  return NX_SUCCESS;
}

VOID nx_tap_driver_stats_get(NX_TAP_STATS *stats) {
  if (stats != NX_NULL) *stats = tap_stats;
}

static int tap_open(void) {
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    fprintf(stderr, "nx_tap_driver: cannot open /dev/net/tun: %s\n", strerror(errno));
    return -1;
  }
  struct ifreq request;
  memset(&request, 0, sizeof request);
  request.ifr_flags = IFF_TAP | IFF_NO_PI;
  memcpy(request.ifr_name, tap_name, strlen(tap_name));
  if (ioctl(fd, TUNSETIFF, &request) < 0) {
    fprintf(stderr, "nx_tap_driver: cannot attach to TAP device '%s': %s\n", tap_name,
            strerror(errno));
    close(fd);
    return -1;
  }
  return fd;
}

/* Attaching the descriptor gives the TAP device its carrier, but the kernel starts transmitting
 * on it only once its link watcher has run (until then its queue discipline is noop and drops
 * every frame, e.g. the ARP reply to NetX Duo's first request, which NetX retries only after
 * NX_ARP_UPDATE_RATE seconds). That work runs later, under the rtnl lock, so it can lag on a
 * busy host: wait until the kernel reports the device running (IFF_RUNNING is set by that same
 * work) before the link goes up. The caller is the IP thread holding the IP mutex, so no other
 * thread sends meanwhile. */
static int tap_wait_running(void) {
  int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) {
    fprintf(stderr, "nx_tap_driver: cannot open a socket to read the flags of '%s': %s\n", tap_name,
            strerror(errno));
    return -1;
  }
  struct ifreq request;
  ULONG waited = 0;
  for (;;) {
    memset(&request, 0, sizeof request);
    memcpy(request.ifr_name, tap_name, strlen(tap_name));
    if (ioctl(sock, SIOCGIFFLAGS, &request) < 0) {
      if (errno == EINTR) continue; /* the Linux port's scheduler signals */
      fprintf(stderr, "nx_tap_driver: cannot read the flags of TAP device '%s': %s\n", tap_name,
              strerror(errno));
      break;
    }
    if ((request.ifr_flags & (IFF_UP | IFF_RUNNING)) == (IFF_UP | IFF_RUNNING)) {
      close(sock);
      return 0;
    }
    if (waited >= NX_TAP_RUNNING_WAIT_TICKS) {
      fprintf(stderr,
              "nx_tap_driver: TAP device '%s' is not %s after %lu ticks (ip link set %s up)\n",
              tap_name, (request.ifr_flags & IFF_UP) ? "running" : "up", (unsigned long)waited,
              tap_name);
      break;
    }
    tx_thread_sleep(1);
    waited++;
  }
  close(sock);
  return -1;
}

static VOID tap_receive_one(const UCHAR *frame, ULONG length) {
  if (length < TAP_ETHERNET_SIZE || tap_interface == NX_NULL ||
      tap_interface->nx_interface_link_up == NX_FALSE) {
    tap_stats.receive_dropped++;
    return;
  }
  ULONG type = ((ULONG)frame[12] << 8) | frame[13];
  if (type != TAP_ETHERNET_IP && type != TAP_ETHERNET_IPV6 && type != TAP_ETHERNET_ARP &&
      type != TAP_ETHERNET_RARP) {
    tap_stats.receive_dropped++;
    return;
  }
  NX_PACKET *packet;
  if (nx_packet_allocate(tap_ip->nx_ip_default_packet_pool, &packet, NX_RECEIVE_PACKET,
                         NX_NO_WAIT) != NX_SUCCESS) {
    tap_stats.receive_dropped++;
    return;
  }
  /* Two bytes ahead keep the IP header 4-byte aligned after the 14-byte Ethernet header. */
  packet->nx_packet_prepend_ptr += 2;
  packet->nx_packet_append_ptr = packet->nx_packet_prepend_ptr;
  if (nx_packet_data_append(packet, (VOID *)frame, length, tap_ip->nx_ip_default_packet_pool,
                            NX_NO_WAIT) != NX_SUCCESS) {
    nx_packet_release(packet);
    tap_stats.receive_dropped++;
    return;
  }
  packet->nx_packet_prepend_ptr += TAP_ETHERNET_SIZE;
  packet->nx_packet_length -= TAP_ETHERNET_SIZE;
  packet->nx_packet_ip_interface = tap_interface;
  tap_stats.frames_received++;
  if (type == TAP_ETHERNET_IP || type == TAP_ETHERNET_IPV6) {
    _nx_ip_packet_deferred_receive(tap_ip, packet);
  } else if (type == TAP_ETHERNET_ARP) {
    _nx_arp_packet_deferred_receive(tap_ip, packet);
  } else {
    _nx_rarp_packet_deferred_receive(tap_ip, packet);
  }
}

static VOID tap_receive_thread(ULONG unused) {
  (void)unused;
  for (;;) {
    ssize_t got = read(tap_fd, tap_receive_frame, sizeof tap_receive_frame);
    if (got > 0) {
      tap_receive_one(tap_receive_frame, (ULONG)got);
      continue;
    }
    if (got < 0 && errno == EINTR) continue; /* the Linux port's scheduler signals */
    tx_thread_sleep(NX_TAP_POLL_TICKS);
  }
}

static VOID tap_send(NX_IP_DRIVER *request, ULONG type) {
  NX_PACKET *packet = request->nx_ip_driver_packet;
  NX_INTERFACE *interface = request->nx_ip_driver_interface;
  ULONG length = packet->nx_packet_length;
  if (interface->nx_interface_link_up == NX_FALSE || length + TAP_ETHERNET_SIZE > TAP_FRAME_MAX) {
    tap_stats.send_errors++;
    nx_packet_transmit_release(packet);
    return;
  }
  tx_mutex_get(&tap_send_mutex, TX_WAIT_FOREVER);
  UCHAR *frame = tap_send_frame;
  ULONG dst_msw = request->nx_ip_driver_physical_address_msw;
  ULONG dst_lsw = request->nx_ip_driver_physical_address_lsw;
  ULONG src_msw = interface->nx_interface_physical_address_msw;
  ULONG src_lsw = interface->nx_interface_physical_address_lsw;
  frame[0] = (UCHAR)(dst_msw >> 8);
  frame[1] = (UCHAR)dst_msw;
  frame[2] = (UCHAR)(dst_lsw >> 24);
  frame[3] = (UCHAR)(dst_lsw >> 16);
  frame[4] = (UCHAR)(dst_lsw >> 8);
  frame[5] = (UCHAR)dst_lsw;
  frame[6] = (UCHAR)(src_msw >> 8);
  frame[7] = (UCHAR)src_msw;
  frame[8] = (UCHAR)(src_lsw >> 24);
  frame[9] = (UCHAR)(src_lsw >> 16);
  frame[10] = (UCHAR)(src_lsw >> 8);
  frame[11] = (UCHAR)src_lsw;
  frame[12] = (UCHAR)(type >> 8);
  frame[13] = (UCHAR)type;
  ULONG copied = 0;
  UINT status =
      nx_packet_data_extract_offset(packet, 0, frame + TAP_ETHERNET_SIZE, length, &copied);
  if (status == NX_SUCCESS && copied == length) {
    ssize_t wrote;
    do {
      wrote = write(tap_fd, frame, TAP_ETHERNET_SIZE + length);
    } while (wrote < 0 && errno == EINTR);
    if (wrote == (ssize_t)(TAP_ETHERNET_SIZE + length)) {
      tap_stats.frames_sent++;
    } else {
      tap_stats.send_errors++;
    }
  } else {
    tap_stats.send_errors++;
  }
  tx_mutex_put(&tap_send_mutex);
  nx_packet_transmit_release(packet);
}

VOID nx_tap_driver(NX_IP_DRIVER *request) {
  NX_IP *ip = request->nx_ip_driver_ptr;
  NX_INTERFACE *interface = request->nx_ip_driver_interface;
  request->nx_ip_driver_status = NX_SUCCESS;
  switch (request->nx_ip_driver_command) {
    case NX_LINK_INTERFACE_ATTACH:
      if (tap_interface != NX_NULL && tap_interface != interface) {
        request->nx_ip_driver_status = NX_INVALID_INTERFACE; /* one interface per program */
      }
      break;
    case NX_LINK_INITIALIZE: {
      if (tap_interface != NX_NULL || tap_name[0] == '\0') {
        if (tap_name[0] == '\0')
          fprintf(stderr, "nx_tap_driver: nx_tap_driver_configure was not called\n");
        request->nx_ip_driver_status = NX_NOT_SUCCESSFUL;
        break;
      }
      tap_fd = tap_open();
      if (tap_fd < 0) {
        request->nx_ip_driver_status = NX_NOT_SUCCESSFUL;
        break;
      }
      if (tap_wait_running() != 0) {
        close(tap_fd);
        tap_fd = -1;
        request->nx_ip_driver_status = NX_NOT_SUCCESSFUL;
        break;
      }
      tap_ip = ip;
      tap_interface = interface;
      UINT index = interface->nx_interface_index;
      nx_ip_interface_mtu_set(ip, index, TAP_MTU);
      nx_ip_interface_physical_address_set(ip, index, tap_mac_msw, tap_mac_lsw, NX_FALSE);
      nx_ip_interface_address_mapping_configure(ip, index, NX_TRUE);
      if (tx_mutex_create(&tap_send_mutex, "nx tap send", TX_NO_INHERIT) != TX_SUCCESS) {
        request->nx_ip_driver_status = NX_NOT_SUCCESSFUL;
      }
      break;
    }
    case NX_LINK_ENABLE:
      interface->nx_interface_link_up = NX_TRUE;
      if (!tap_thread_created) {
        if (tx_thread_create(&tap_thread, "nx tap receive", tap_receive_thread, 0, tap_stack,
                             sizeof tap_stack, NX_TAP_THREAD_PRIORITY, NX_TAP_THREAD_PRIORITY,
                             TX_NO_TIME_SLICE, TX_AUTO_START) != TX_SUCCESS) {
          request->nx_ip_driver_status = NX_NOT_SUCCESSFUL;
          break;
        }
        tap_thread_created = 1u;
      }
      break;
    case NX_LINK_DISABLE:
      interface->nx_interface_link_up = NX_FALSE;
      break;
    case NX_LINK_UNINITIALIZE:
    case NX_LINK_INTERFACE_DETACH:
      interface->nx_interface_link_up = NX_FALSE;
      break;
    case NX_LINK_PACKET_SEND:
    case NX_LINK_PACKET_BROADCAST:
      tap_send(request, request->nx_ip_driver_packet->nx_packet_ip_version == NX_IP_VERSION_V6
                            ? TAP_ETHERNET_IPV6
                            : TAP_ETHERNET_IP);
      break;
    case NX_LINK_ARP_SEND:
    case NX_LINK_ARP_RESPONSE_SEND:
      tap_send(request, TAP_ETHERNET_ARP);
      break;
    case NX_LINK_RARP_SEND:
      tap_send(request, TAP_ETHERNET_RARP);
      break;
    case NX_LINK_MULTICAST_JOIN:
    case NX_LINK_MULTICAST_LEAVE:
      break; /* a TAP device delivers every frame the kernel sends it */
    case NX_LINK_GET_STATUS:
      *(request->nx_ip_driver_return_ptr) = interface->nx_interface_link_up;
      break;
    case NX_LINK_DEFERRED_PROCESSING:
      break;
    default:
      request->nx_ip_driver_status = NX_UNHANDLED_COMMAND;
      break;
  }
}
