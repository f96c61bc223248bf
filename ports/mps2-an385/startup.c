/* Reset and exception vectors of every mps2-an385 image: copy .data, zero .bss, paint the
 * stack (so the footprint report can measure its high-water mark), run main, exit with its
 * status through semihosting. An RTOS takes PendSV by defining PendSV_Handler (the default is a
 * fault). Built with -ffreestanding so the loops stay loops. */
#include <stdint.h>

#include "board.h"
#include "semihost.h"

extern uint32_t __data_load[], __data_start[], __data_end[];
extern uint32_t __bss_start[], __bss_end[];
extern uint32_t __stack_limit[], __stack_top[];

int main(void);
void Reset_Handler(void);
static void Fault_Handler(void);
void PendSV_Handler(void) __attribute__((weak, alias("Fault_Handler")));

#define STACK_PAINT 0x5AFEC0DEu

/* Cortex-M3: initial SP, 15 system exceptions; the board's interrupts are not used. */
__attribute__((section(".vectors"), used)) void (*const board_vectors[16])(void) = {
    (void (*)(void))(uintptr_t)__stack_top,
    Reset_Handler,
    Fault_Handler, /* NMI */
    Fault_Handler, /* HardFault */
    Fault_Handler, /* MemManage */
    Fault_Handler, /* BusFault */
    Fault_Handler, /* UsageFault */
    0,
    0,
    0,
    0,
    Fault_Handler, /* SVCall */
    Fault_Handler, /* DebugMonitor */
    0,
    PendSV_Handler,
    Fault_Handler, /* SysTick: its interrupt is off (board_clock_ticks counts wraps) */
};

void Reset_Handler(void) {
  uint32_t *src = __data_load;
  for (uint32_t *dst = __data_start; dst < __data_end;) *dst++ = *src++;
  for (uint32_t *dst = __bss_start; dst < __bss_end;) *dst++ = 0;
  /* Paint below the current frame; the few words Reset_Handler uses stay unpainted. */
  uint32_t *sp;
  __asm__ volatile("mov %0, sp" : "=r"(sp));
  for (uint32_t *p = __stack_limit; p < sp - 16;) *p++ = STACK_PAINT;
  sh_exit(main());
}

size_t board_stack_used(void) {
  const uint32_t *p = __stack_limit;
  while (p < __stack_top && *p == STACK_PAINT) p++;
  return (size_t)((const uint8_t *)__stack_top - (const uint8_t *)p);
}

size_t board_stack_size(void) {
  return (size_t)((const uint8_t *)__stack_top - (const uint8_t *)__stack_limit);
}

/* SysTick on the processor clock (25 MHz on mps2-an385), counting down from 2^24 - 1. Under
 * QEMU's -icount shift=0 one instruction is one ns of virtual time, so 40 instructions make one
 * tick. The clock is made 64-bit by counting wraps where it is read, not in the SysTick
 * interrupt: QEMU updates the counter register at once but raises the interrupt only when its
 * timer callback runs, which may be many instructions later, so a count kept by the handler can
 * lag a counter that has already wrapped (a reading would jump back a whole period). Reading it
 * at least once a period (2^24 ticks, 0.67 s of virtual time) is the caller's part: the bench
 * reads it around every batch. */
#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SYST_RELOAD 0x00FFFFFFu
static uint32_t clock_wraps;
static uint32_t clock_last;

void board_clock_start(void) {
  SYST_RVR = SYST_RELOAD;
  SYST_CVR = 0;    /* cleared; it loads the reload value on the next tick */
  SYST_CSR = 0x5u; /* enable, no interrupt, processor clock */
  for (int i = 0; i < 1000 && SYST_CVR == 0; i++) {}
  clock_wraps = 0;
  clock_last = SYST_CVR;
}

uint64_t board_clock_ticks(void) {
  uint32_t current = SYST_CVR;
  if (current > clock_last) clock_wraps++; /* it counts down: a larger reading means it reloaded */
  clock_last = current;
  return (uint64_t)clock_wraps * (SYST_RELOAD + 1u) + (SYST_RELOAD - current);
}

/* A fault is a firmware bug: say so on stderr and exit with a status no replay uses. */
static void Fault_Handler(void) {
  static const char msg[] = "microtally: CPU fault\n";
  int err = sh_open_console(1);
  if (err >= 0) (void)sh_write(err, msg, sizeof msg - 1);
  sh_exit(BOARD_EXIT_FAULT);
}
