/* What the board support (startup.c) offers the images' programs. */
#ifndef MT_QEMU_BOARD_H
#define MT_QEMU_BOARD_H

#include <stddef.h>
#include <stdint.h>

/* Exit statuses beyond the replay's own 0/1/2 (SPEC R10). */
#define BOARD_EXIT_FAULT 76  /* CPU fault (70 is replay's "the core trapped") */
#define BOARD_EXIT_ENGINE 71 /* wasm3 could not load or run the blob */
#define BOARD_EXIT_IO 74     /* semihosting I/O failed */

/* Bytes of the main stack ever used (high-water mark of the painted region). */
size_t board_stack_used(void);
size_t board_stack_size(void);

/* The board clock: SysTick at BOARD_CLOCK_HZ, made 64-bit by counting its wraps where it is
   read; read it at least once every 2^24 ticks. */
#define BOARD_CLOCK_HZ 25000000u
void board_clock_start(void);
uint64_t board_clock_ticks(void);

/* The vector table (at address 0), for an RTOS that sets VTOR. */
extern void (*const board_vectors[16])(void);

#endif
