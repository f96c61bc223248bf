/* `--check-api` of the ThreadX image (check_api.c). */
#ifndef MT_QEMU_THREADX_CHECK_API_H
#define MT_QEMU_THREADX_CHECK_API_H

#include "microtally_threadx.h"

typedef struct check_api_io {
  MT_TX_CONFIG *cfg; /* the agent's configuration, not yet started */
  TX_THREAD *feeder; /* the calling thread (its priority is raised for a moment) */
  void (*print)(const char *text);
  void (*put_number)(unsigned long n);
  char *line; /* the feeder's line buffer, MT_TX_CONFIG_BYTES */
  size_t line_size;
  CHAR *summary; /* room for the core's run summary */
  ULONG summary_size;
} check_api_io_t;

/* Runs the checks (the buffers are the replay's, unused then); returns the exit status. */
int check_api(const check_api_io_t *io);

#endif
