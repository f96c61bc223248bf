/* Reset and exception vectors of the ThreadX image for mps2-an385, and ThreadX's low-level
 * initialisation (the part of a ThreadX port that belongs to the board): copy .data, zero .bss,
 * paint the main stack, run main (which enters the kernel). PendSV goes to ThreadX's context
 * switch (__tx_PendSVHandler of ports/cortex_m3/gnu). No SysTick: ThreadX time stands still
 * here, so every event's time is the one its trace line carries (README). Built with
 * -ffreestanding so the loops stay loops. */
#include <stdint.h>

#include "board.h"
#include "semihost.h"

extern uint32_t __data_load[], __data_start[], __data_end[];
extern uint32_t __bss_start[], __bss_end[];
extern uint32_t __stack_limit[], __stack_top[], __ram_end[];

/* ThreadX's own (tx_initialize.h, tx_thread.h, ports/cortex_m3/gnu/src/tx_thread_schedule.S). */
extern void *_tx_initialize_unused_memory;
extern void *_tx_thread_system_stack_ptr;
void __tx_PendSVHandler(void);

int main(void);
void Reset_Handler(void);
void _tx_initialize_low_level(void);
static void Fault_Handler(void);

#define STACK_PAINT 0x5AFEC0DEu

__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))(uintptr_t)__stack_top,
    Reset_Handler,
    Fault_Handler, /* NMI */
    Fault_Handler, /* HardFault */
    Fault_Handler, /* MemManage */
    Fault_Handler, /* BusFault */
    Fault_Handler, /* UsageFault */
    0, 0, 0, 0,
    Fault_Handler, /* SVCall: ThreadX's Cortex-M3 port does not use it */
    Fault_Handler, /* DebugMonitor */
    0,
    __tx_PendSVHandler,
    Fault_Handler, /* SysTick: not started */
};

void Reset_Handler(void) {
  uint32_t *src = __data_load;
  for (uint32_t *dst = __data_start; dst < __data_end;) *dst++ = *src++;
  for (uint32_t *dst = __bss_start; dst < __bss_end;) *dst++ = 0;
  uint32_t *sp;
  __asm__ volatile("mov %0, sp" : "=r"(sp));
  for (uint32_t *p = __stack_limit; p < sp - 16;) *p++ = STACK_PAINT;
  sh_exit(main());
}

#define SCB_VTOR (*(volatile uint32_t *)0xE000ED08u)
#define SCB_SHPR2 (*(volatile uint32_t *)0xE000ED1Cu)
#define SCB_SHPR3 (*(volatile uint32_t *)0xE000ED20u)

/* Called by tx_kernel_enter before tx_application_define, interrupts off. The main stack
 * becomes ThreadX's system stack (exceptions run on it; threads have their own). */
void _tx_initialize_low_level(void) {
  __asm__ volatile("cpsid i");
  _tx_initialize_unused_memory = (void *)__ram_end;
  SCB_VTOR = (uint32_t)(uintptr_t)vectors;
  _tx_thread_system_stack_ptr = (void *)__stack_top;
  SCB_SHPR2 = 0xFF000000u; /* SVCall lowest */
  SCB_SHPR3 = 0x40FF0000u; /* PendSV lowest, SysTick above it */
}

size_t board_stack_used(void) {
  const uint32_t *p = __stack_limit;
  while (p < __stack_top && *p == STACK_PAINT) p++;
  return (size_t)((const uint8_t *)__stack_top - (const uint8_t *)p);
}

size_t board_stack_size(void) {
  return (size_t)((const uint8_t *)__stack_top - (const uint8_t *)__stack_limit);
}

static void Fault_Handler(void) {
  static const char msg[] = "microtally-threadx: CPU fault\n";
  int err = sh_open_console(1);
  if (err >= 0) (void)sh_write(err, msg, sizeof msg - 1);
  sh_exit(BOARD_EXIT_FAULT);
}
