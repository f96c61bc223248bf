/* Semihosting calls as specified by Arm ("Semihosting for AArch32 and AArch64"): r0 holds
 * the operation, r1 points at its argument block, r0 returns the result. */
#include "semihost.h"

enum {
  SYS_OPEN = 0x01,
  SYS_CLOSE = 0x02,
  SYS_WRITE = 0x05,
  SYS_READ = 0x06,
  SYS_GET_CMDLINE = 0x15,
  SYS_EXIT = 0x18,
  SYS_EXIT_EXTENDED = 0x20,
};

/* SYS_OPEN modes are fopen() modes by index: 1 = "rb", 4 = "w", 8 = "a". */
enum { MODE_RB = 1, MODE_W = 4, MODE_A = 8 };

/* ADP_Stopped_ApplicationExit: a normal exit whose subcode is the status. */
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u

static long call(uint32_t op, const void *args) {
  register uint32_t r0 __asm__("r0") = op;
  register const void *r1 __asm__("r1") = args;
  __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
  return (long)(int32_t)r0;
}

static size_t length(const char *s) {
  size_t n = 0;
  while (s[n] != '\0') n++;
  return n;
}

static int open_mode(const char *path, uint32_t mode) {
  const uint32_t args[3] = {(uint32_t)(uintptr_t)path, mode, (uint32_t)length(path)};
  return (int)call(SYS_OPEN, args);
}

int sh_open_read(const char *path) { return open_mode(path, MODE_RB); }

/* ":tt" is the console: opened for writing it is stdout, for appending stderr. */
int sh_open_console(int err) { return open_mode(":tt", err ? MODE_A : MODE_W); }

long sh_read(int handle, void *buf, size_t len) {
  const uint32_t args[3] = {(uint32_t)handle, (uint32_t)(uintptr_t)buf, (uint32_t)len};
  long left = call(SYS_READ, args); /* bytes NOT read */
  if (left < 0 || (size_t)left > len) return -1;
  return (long)(len - (size_t)left);
}

int sh_write(int handle, const void *buf, size_t len) {
  const uint8_t *p = buf;
  while (len > 0) {
    const uint32_t args[3] = {(uint32_t)handle, (uint32_t)(uintptr_t)p, (uint32_t)len};
    long left = call(SYS_WRITE, args); /* bytes NOT written */
    if (left < 0 || (size_t)left >= len) return -1;
    p += len - (size_t)left;
    len = (size_t)left;
  }
  return 0;
}

void sh_close(int handle) {
  const uint32_t args[1] = {(uint32_t)handle};
  (void)call(SYS_CLOSE, args);
}

long sh_cmdline(char *buf, size_t cap) {
  uint32_t args[2] = {(uint32_t)(uintptr_t)buf, (uint32_t)cap};
  if (cap == 0 || call(SYS_GET_CMDLINE, args) != 0) return -1;
  return (long)args[1];
}

void sh_exit(int status) {
  const uint32_t args[2] = {ADP_STOPPED_APPLICATION_EXIT, (uint32_t)status};
  (void)call(SYS_EXIT_EXTENDED, args);
  /* A host without the extension: plain SYS_EXIT can only say success or failure. */
  (void)call(SYS_EXIT, (const void *)(uintptr_t)ADP_STOPPED_APPLICATION_EXIT);
  for (;;) {}
}
