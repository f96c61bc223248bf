/* The part of a ThreadX port that belongs to the board (ports/mps2-an385 does the rest): the
 * low-level initialisation tx_kernel_enter calls. PendSV needs nothing here: ThreadX's
 * ports/cortex_m3/gnu defines PendSV_Handler, which takes the board's weak vector. No SysTick:
 * ThreadX time stands still here, so every event's time is the one its trace line carries
 * (README). */
#include <stdint.h>

#include "board.h"

extern uint32_t __stack_top[], __ram_end[];

/* ThreadX's own (tx_initialize.h, tx_thread.h, ports/cortex_m3/gnu/src/tx_thread_schedule.S). */
extern void *_tx_initialize_unused_memory;
extern void *_tx_thread_system_stack_ptr;
void _tx_initialize_low_level(void);

#define SCB_VTOR (*(volatile uint32_t *)0xE000ED08u)
#define SCB_SHPR2 (*(volatile uint32_t *)0xE000ED1Cu)
#define SCB_SHPR3 (*(volatile uint32_t *)0xE000ED20u)

/* Called by tx_kernel_enter before tx_application_define, interrupts off. The main stack
 * becomes ThreadX's system stack (exceptions run on it; threads have their own). */
void _tx_initialize_low_level(void) {
  __asm__ volatile("cpsid i");
  _tx_initialize_unused_memory = (void *)__ram_end;
  SCB_VTOR = (uint32_t)(uintptr_t)board_vectors;
  _tx_thread_system_stack_ptr = (void *)__stack_top;
  SCB_SHPR2 = 0xFF000000u; /* SVCall lowest */
  SCB_SHPR3 = 0x40FF0000u; /* PendSV lowest, SysTick above it */
}
