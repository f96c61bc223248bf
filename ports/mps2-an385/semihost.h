/* Arm semihosting on Cortex-M (BKPT 0xAB): the board's only I/O. QEMU serves the calls
 * from the host, so the image reads the trace file and writes stdout/stderr of the
 * qemu-system-arm process itself. */
#ifndef MT_QEMU_SEMIHOST_H
#define MT_QEMU_SEMIHOST_H

#include <stddef.h>
#include <stdint.h>

/* Opens a host file for binary reading; returns a handle >= 0 or -1. */
int sh_open_read(const char *path);

/* Opens the host's stdout (err = 0) or stderr (err = 1); returns a handle or -1. */
int sh_open_console(int err);

/* Reads up to len bytes; returns the count read (0 at end of file) or -1 on error. */
long sh_read(int handle, void *buf, size_t len);

/* Writes all len bytes; returns 0, or -1 when the host refused some. */
int sh_write(int handle, const void *buf, size_t len);

void sh_close(int handle);

/* Copies the command line QEMU got (`-semihosting-config arg=...`, joined by spaces) into
 * buf as a NUL-terminated string; returns its length or -1 when it does not fit. */
long sh_cmdline(char *buf, size_t cap);

/* Ends the emulation with an exit status the host process returns. */
void sh_exit(int status) __attribute__((noreturn));

#endif
