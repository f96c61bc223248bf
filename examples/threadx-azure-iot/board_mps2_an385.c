/*
 * The example on a Cortex-M3 board, QEMU's mps2-an385 (ports/mps2-an385: startup, linker
 * script, semihosting console): ThreadX's Cortex-M3 port ticking from SysTick, the settings of
 * example_config.h. The board's Ethernet controller (an SMSC LAN9118 at 0x40200000) has no
 * NetX Duo driver here: example_board_network_driver is where yours goes (the vendor's, or one
 * you write after ports/netxduo-tap). This one refuses NX_LINK_INITIALIZE, so the image links
 * and is measured whole (README), and says so at start instead of pretending a link.
 */
#include <stdint.h>
#include <string.h>

#include "board.h"
#include "example.h"
#include "semihost.h"
#include "tx_api.h"

/* The settings are example_config.h's as main.c reads them: nothing to override here. */
int example_board_settings(int argc, char **argv, EXAMPLE_SETTINGS *s) {
  (void)argc;
  (void)argv;
  (void)s;
  return 0;
}

UINT example_board_network_configure(VOID) { return NX_SUCCESS; }

/* Replace with the board's Ethernet driver (NX_LINK_INITIALIZE, NX_LINK_ENABLE,
 * NX_LINK_PACKET_SEND, NX_LINK_ARP_SEND, ... as ports/netxduo-tap/nx_tap_driver.c handles them). */
VOID example_board_network_driver(NX_IP_DRIVER *driver_req_ptr) {
  static UINT said;
  if (driver_req_ptr->nx_ip_driver_command == NX_LINK_INITIALIZE && !said) {
    said = 1;
    example_board_log("example: no Ethernet driver for this board yet (board_mps2_an385.c)");
  }
  if (driver_req_ptr->nx_ip_driver_command == NX_LINK_PACKET_SEND ||
      driver_req_ptr->nx_ip_driver_command == NX_LINK_PACKET_BROADCAST ||
      driver_req_ptr->nx_ip_driver_command == NX_LINK_ARP_SEND ||
      driver_req_ptr->nx_ip_driver_command == NX_LINK_ARP_RESPONSE_SEND ||
      driver_req_ptr->nx_ip_driver_command == NX_LINK_RARP_SEND) {
    nx_packet_transmit_release(driver_req_ptr->nx_ip_driver_packet);
  }
  driver_req_ptr->nx_ip_driver_status = NX_NOT_SUCCESSFUL;
}

VOID example_board_log(const CHAR *line) {
  static int out = -2;
  if (out == -2) out = sh_open_console(0);
  if (out < 0) return;
  (void)sh_write(out, line, strlen(line));
  (void)sh_write(out, "\n", 1);
}

VOID example_board_exit(int status) { sh_exit(status); }

/* ThreadX's Cortex-M3 port asks the board for its low-level start: the system stack, the
 * vector table with ThreadX's PendSV and a SysTick that drives ThreadX's timer. */
extern uint32_t __stack_top[], __ram_end[];
extern void *_tx_initialize_unused_memory;
extern void *_tx_thread_system_stack_ptr;
void _tx_initialize_low_level(void);
void _tx_timer_interrupt(void);
void PendSV_Handler(void);

static void systick_handler(void) { _tx_timer_interrupt(); }

/* The board's vectors with SysTick taken over; VTOR needs 128-byte alignment. */
static void (*vectors[16])(void) __attribute__((aligned(128)));

#define SCB_VTOR (*(volatile uint32_t *)0xE000ED08u)
#define SCB_SHPR2 (*(volatile uint32_t *)0xE000ED1Cu)
#define SCB_SHPR3 (*(volatile uint32_t *)0xE000ED20u)
#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)

void _tx_initialize_low_level(void) {
  __asm__ volatile("cpsid i");
  _tx_initialize_unused_memory = (void *)__ram_end;
  memcpy(vectors, board_vectors, sizeof vectors);
  vectors[14] = PendSV_Handler;
  vectors[15] = systick_handler;
  SCB_VTOR = (uint32_t)(uintptr_t)vectors;
  _tx_thread_system_stack_ptr = (void *)__stack_top;
  SCB_SHPR2 = 0xFF000000u; /* SVCall lowest */
  SCB_SHPR3 = 0x40FF0000u; /* PendSV lowest, SysTick above it */
  SYST_RVR = BOARD_CLOCK_HZ / TX_TIMER_TICKS_PER_SECOND - 1u;
  SYST_CVR = 0u;
  SYST_CSR = 7u; /* processor clock, interrupt, enabled */
}

/* NetX Duo's random numbers (NX_RAND, TCP sequence numbers, DNS ids, TLS nonces and keys):
 * this board has no TRNG, so a xorshift seeded from SysTick stands in. NOT cryptographic:
 * on a product, return your TRNG's output here. */
static uint32_t random_state = 0x6d743031u;
void example_board_srand(unsigned seed) { random_state ^= seed | 1u; }
int example_board_random(void) {
  random_state ^= SYST_CVR;
  random_state ^= random_state << 13;
  random_state ^= random_state >> 17;
  random_state ^= random_state << 5;
  return (int)(random_state & 0x7fffffffu);
}

/* newlib's system calls. No heap: _sbrk refuses, so malloc returns NULL (nothing here calls
 * it; newlib-nano's snprintf references it for cases a string buffer never meets). Output goes
 * to the semihosting console; the rest refuses. */
#include <errno.h>
#include <sys/stat.h>
#undef errno
extern int errno;
void *_sbrk(int increment) {
  (void)increment;
  errno = ENOMEM;
  return (void *)-1;
}
int _write(int fd, const char *data, int length) {
  static int out = -2;
  (void)fd;
  if (out == -2) out = sh_open_console(0);
  return out >= 0 && sh_write(out, data, (size_t)length) == 0 ? length : -1;
}
void _exit(int status) { sh_exit(status); }
void abort(void) {
  example_board_log("example: abort");
  sh_exit(BOARD_EXIT_FAULT);
}
int _kill(int pid, int signal) {
  (void)pid;
  (void)signal;
  errno = EINVAL;
  return -1;
}
int _getpid(void) { return 1; }
int _close(int fd) {
  (void)fd;
  return -1;
}
int _lseek(int fd, int offset, int whence) {
  (void)fd;
  (void)offset;
  (void)whence;
  return -1;
}
int _read(int fd, char *data, int length) {
  (void)fd;
  (void)data;
  (void)length;
  return -1;
}
int _fstat(int fd, struct stat *st) {
  (void)fd;
  st->st_mode = S_IFCHR;
  return 0;
}
int _isatty(int fd) {
  (void)fd;
  return 1;
}

int main(void) { return example_main(0, NULL); }
