/*
 * microtally-replay — the host's part of `replay` (docs/ABI.md) on wasm3, for POSIX hosts.
 * Prints the same stdout/stderr bytes and exit status as the V8 driver (host/engines/v8.ts):
 *
 *   microtally-replay [--profile rtos|linux] [--agent-id <uuid>] [--format json|cbor] [--stats] <trace.jsonl | ->
 *
 * Built with MT_REPLAY_UPDATE (build/posix/microtally-replay-update: mt_update.c and NetX Duo's
 * nx_crypto linked in), it also takes `replay --update-at` (docs/UPDATE.md): the trace then goes
 * through the agent (ports/common/mt_replay_update.h), each package delivered before its line:
 *
 *   --update-at=<N>:<package> (repeatable, in order) --pub-hex=<the key's 65-byte point in hex>
 *   --self-test=<host/update/selftest.jsonl> [--installed-sequence=<n>]
 *
 * Exit: 0 all lines used, 1 some lines skipped, 2 usage error, 74 an input or output error
 * (SPEC R10: an unreadable trace, a full disk, a closed output, `| head` included, as the V8
 * CLI), reported in one line naming the file or stream; beyond replay's codes, 70 the core
 * trapped (the run continued after re-initialisation), 71 wasm3 could not load the blob.
 * No allocation: every buffer is static.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "microtally.h"
#include "microtally_blobs.h"
#include "mt_replay.h"
#if MT_REPLAY_UPDATE
#include "mt_replay_update.h"
#endif

/* The longest line kept whole; longer ones are only measured (the core's input area is
 * smaller still: such lines reach it as mt_oversized_line). */
#define LINE_MAX_BYTES (256u * 1024u)

static const char usage_text[] =
    "usage: microtally-replay [--profile rtos|linux] [--agent-id <uuid>] [--format json|cbor] [--stats] <trace.jsonl | ->\n"
#if MT_REPLAY_UPDATE
    "       [--update-at=<N>:<package> ... --pub-hex=<65-byte point> --self-test=<file> [--installed-sequence=<n>]]\n"
#endif
    ;

static mt_core_t core;
static char line[LINE_MAX_BYTES];
static char read_buf[64u * 1024u];
static char out_buf[64u * 1024u];

#if MT_REPLAY_UPDATE
/* The packages, the key and the self-test; the blobs are staged in RAM slots. */
#define SLOT_BYTES (4u << 20) /* the largest blob a package may carry (MT_UPDATE_BLOB_MAX) */
static mt_replay_update_args_t update_args;
static char self_test[16u * 1024u];
static uint8_t slots[2][SLOT_BYTES];
static uint8_t chunk[4096];
static char agent_line[65536u + 1u]; /* the agent's line buffer (at most 64 KiB) */

static int pkg_open(void *ctx, const char *name) {
  FILE **f = ctx;
  *f = fopen(name, "rb");
  return *f != NULL ? 0 : -1;
}
static long pkg_read(void *ctx, int handle, void *buf, size_t cap) {
  FILE **f = ctx;
  size_t got = fread(buf, 1, cap, *f);
  (void)handle;
  return got == 0 && ferror(*f) ? -1 : (long)got;
}
static void pkg_close(void *ctx, int handle) {
  FILE **f = ctx;
  (void)handle;
  fclose(*f);
}

/* One update option: 0 taken, 2 after a usage message, -1 not one. */
static int usage(const char *message);
static int update_option(const char *a) {
  const char *why = NULL;
  int rc = mt_replay_update_option(&update_args, a, &why);
  return rc > 0 ? 0 : rc < 0 ? usage(why) : -1;
}
#endif

/* The first output error: which stream, and errno (0: none). */
static const char *write_failed_on;
static int write_errno;

/* `ENOSPC (no space left on device)`, as the V8 CLI words it for the common cases. */
static void put_error(const char *what, const char *name, int err) {
  static const struct {
    int code;
    const char *name;
  } names[] = {
      {ENOSPC, "ENOSPC"}, {EPIPE, "EPIPE"},   {EIO, "EIO"},     {EISDIR, "EISDIR"},
      {ENOENT, "ENOENT"}, {EACCES, "EACCES"}, {EBADF, "EBADF"}, {EFBIG, "EFBIG"},
      {EROFS, "EROFS"},   {EDQUOT, "EDQUOT"},
  };
  const char *text = strerror(err);
  size_t i;
  fprintf(stderr, "microtally: cannot %s %s: ", what, name);
  for (i = 0; i < sizeof names / sizeof names[0]; i++) {
    if (names[i].code == err) {
      fprintf(stderr, "%s (", names[i].name);
      break;
    }
  }
  if (i == sizeof names / sizeof names[0]) {
    fprintf(stderr, "errno %d (", err);
  }
  if (text[0] >= 'A' && text[0] <= 'Z') {
    fputc(text[0] - 'A' + 'a', stderr);
    text++;
  }
  fprintf(stderr, "%s)\n", text);
}

static int usage(const char *message) {
  fprintf(stderr, "microtally: %s\n%s", message, usage_text);
  return 2;
}

/* stdio behind the shared replay loop (ports/common/mt_replay.h). */
static long read_trace(void *ctx, void *buf, size_t cap) {
  FILE *in = ctx;
  size_t got = fread(buf, 1, cap, in);
  return got == 0 && ferror(in) ? -1 : (long)got;
}

static int write_stream(void *ctx, int stream, const void *data, size_t len) {
  FILE *f = stream == MT_REPLAY_STDOUT ? stdout : stderr;
  (void)ctx;
  if (f == stderr && fflush(stdout) != 0) { /* keep the two streams in order on a shared terminal */
    f = stdout;
  } else if (fwrite(data, 1, len, f) == len) {
    return 0;
  }
  /* A reader that went away (EPIPE) is an output error too: the run stops with 74. */
  if (write_failed_on == NULL) {
    write_failed_on = f == stdout ? "stdout" : "stderr";
    write_errno = errno;
  }
  return -1;
}

/* `--bench-connections <records> <repeat>`: the engine benchmark of host/bench (not part of
 * replay). Feeds a file of typed connection records (docs/ABI.md layout) through
 * mt_ingest_connection_records, discarding messages, `repeat` times from a reset core, and
 * prints one JSON line: events, best ns inside ingest calls, best ns taking messages, stats.
 * The only path of this program that allocates (the records file). */
static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int bench_connections(const char *path, long repeat) {
  FILE *f = fopen(path, "rb");
  uint8_t *records;
  long size;
  size_t events = 0, at, n;
  double best = -1, best_send = -1;
  mt_config_t cfg;
  const char *json = "";
  size_t json_len = 0;
  long r;
  if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
      fseek(f, 0, SEEK_SET) != 0) {
    fprintf(stderr, "microtally: cannot read %s\n", path);
    return MT_REPLAY_EXIT_IO;
  }
  records = malloc((size_t)size + 1u);
  if (records == NULL || fread(records, 1, (size_t)size, f) != (size_t)size) {
    fprintf(stderr, "microtally: cannot read %s\n", path);
    return MT_REPLAY_EXIT_IO;
  }
  fclose(f);
  for (at = 0;
       at <= (size_t)size && (n = mt_replay_record_size(records + at, (size_t)size - at)) > 0;
       events++) {
    at += n;
  }
  memset(&cfg, 0, sizeof cfg);
  cfg.blob = microtally_rtos_wasm;
  cfg.blob_size = microtally_rtos_wasm_len;
  cfg.memory_limit = microtally_rtos_memory_end;
  if (mt_init(&core, &cfg) != MT_OK) {
    return MT_REPLAY_EXIT_ENGINE;
  }
  for (r = 0; r < repeat; r++) {
    double ingest = 0, send = 0;
    size_t consumed = 0, skipped = 0;
    const uint8_t *data;
    size_t n;
    bool ends;
    mt_status_t st = mt_reset(&core);
    at = 0;
    while (st == MT_OK && at < (size_t)size) {
      double t0 = now_ns(), t1;
      st =
          mt_ingest_connection_records(&core, records + at, (size_t)size - at, &consumed, &skipped);
      t1 = now_ns();
      ingest += t1 - t0;
      at += consumed;
      while (mt_next_chunk(&core, &data, &n, &ends) == MT_OK) {}
      send += now_ns() - t1;
    }
    if (st != MT_OK) {
      fprintf(stderr, "microtally: bench ingest failed: %s\n", mt_status_name(st));
      return MT_REPLAY_EXIT_ENGINE;
    }
    (void)mt_finish(&core);
    while (mt_next_chunk(&core, &data, &n, &ends) == MT_OK) {}
    if (best < 0 || ingest < best) {
      best = ingest;
    }
    if (best_send < 0 || send < best_send) {
      best_send = send;
    }
  }
  if (mt_stats(&core, &json, &json_len) != MT_OK) {
    return MT_REPLAY_EXIT_ENGINE;
  }
  printf("{\"events\":%lu,\"ns\":%.0f,\"sendNs\":%.0f,\"stats\":%.*s}\n", (unsigned long)events,
         best, best_send, (int)json_len, json);
  free(records);
  return 0;
}

int main(int argc, char **argv) {
  const char *profile = "rtos";
  const char *agent_id = NULL;
  const char *format = "json";
  const char *path = NULL;
  int stats = 0;
  int i;
  FILE *in;
  mt_config_t cfg;
  mt_replay_options_t opt;
  mt_replay_io_t io;
  int status;

  if (argc == 4 && strcmp(argv[1], "--bench-connections") == 0) {
    return bench_connections(argv[2], strtol(argv[3], NULL, 10));
  }
  for (i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--profile") == 0 || strcmp(a, "--agent-id") == 0 || strcmp(a, "--format") == 0) {
      if (i + 1 >= argc) {
        char msg[64];
        snprintf(msg, sizeof msg, "option %s needs a value", a);
        return usage(msg);
      }
      if (a[2] == 'p') {
        profile = argv[++i];
      } else if (a[2] == 'f') {
        format = argv[++i];
      } else {
        agent_id = argv[++i];
      }
    } else if (strncmp(a, "--profile=", 10) == 0) {
      profile = a + 10;
    } else if (strncmp(a, "--agent-id=", 11) == 0) {
      agent_id = a + 11;
    } else if (strncmp(a, "--format=", 9) == 0) {
      format = a + 9;
    } else if (strcmp(a, "--stats") == 0) {
      stats = 1;
#if MT_REPLAY_UPDATE
    } else if (strncmp(a, "--", 2) == 0 && (status = update_option(a)) >= 0) {
      if (status != 0) return status;
#endif
    } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      fputs(usage_text, stdout);
      return 0;
    } else if (a[0] == '-' && a[1] != '\0') {
      return usage("unknown option");
    } else if (path != NULL) {
      return usage("replay takes exactly one trace file");
    } else {
      path = a;
    }
  }
  if (path == NULL) {
    return usage("replay takes exactly one trace file");
  }
  if (strcmp(format, "json") != 0 && strcmp(format, "cbor") != 0) {
    char msg[96];
    snprintf(msg, sizeof msg, "unknown format \"%.60s\"", format);
    return usage(msg);
  }
  memset(&cfg, 0, sizeof cfg);
  if (strcmp(profile, "rtos") == 0) {
    cfg.blob = microtally_rtos_wasm;
    cfg.blob_size = microtally_rtos_wasm_len;
    cfg.memory_limit = microtally_rtos_memory_end;
  } else if (strcmp(profile, "linux") == 0) {
    cfg.blob = microtally_linux_wasm;
    cfg.blob_size = microtally_linux_wasm_len;
    cfg.memory_limit = microtally_linux_memory_end;
  } else {
    char msg[96];
    snprintf(msg, sizeof msg, "unknown profile \"%.60s\"", profile);
    return usage(msg);
  }
  if (strcmp(path, "-") == 0) {
    in = stdin;
  } else {
    struct stat st;
    in = fopen(path, "rb");
    if (in == NULL) {
      put_error("read", path, errno);
      return MT_REPLAY_EXIT_IO;
    }
    if (fstat(fileno(in), &st) == 0 && S_ISDIR(st.st_mode)) {
      put_error("read", path, EISDIR);
      fclose(in);
      return MT_REPLAY_EXIT_IO;
    }
  }
  signal(SIGPIPE, SIG_IGN);
  setvbuf(stdout, out_buf, _IOFBF, sizeof out_buf);

  memset(&opt, 0, sizeof opt);
  opt.config = &cfg;
  opt.profile = profile;
  opt.agent_id = agent_id;
  opt.agent_id_len = agent_id != NULL ? strlen(agent_id) : 0;
  opt.stats = stats != 0;
  opt.format = format[0] == 'c' ? MT_FORMAT_CBOR : MT_FORMAT_JSON;
  opt.line = line;
  opt.line_capacity = sizeof line;
  opt.read_buffer = read_buf;
  opt.read_capacity = sizeof read_buf;
  io.ctx = in;
  io.read = read_trace;
  io.write = write_stream;
#if MT_REPLAY_UPDATE
  if (update_args.count > 0) {
    static FILE *package;
    static mt_replay_updates_t ups;
    FILE *st;
    size_t n;
    if (!update_args.have_key || update_args.self_test == NULL) {
      return usage("--update-at needs --pub-hex and --self-test");
    }
    st = fopen(update_args.self_test, "rb");
    if (st == NULL || (n = fread(self_test, 1, sizeof self_test, st)) == 0 || ferror(st)) {
      put_error("read", update_args.self_test, st == NULL ? errno : EIO);
      if (st != NULL) fclose(st);
      return MT_REPLAY_EXIT_IO;
    }
    fclose(st);
    if (n == sizeof self_test) { /* as the board: one that fills the buffer may be cut */
      fprintf(stderr, "microtally: the self-test trace %s is larger than %u bytes\n",
              update_args.self_test, (unsigned)sizeof self_test - 1u);
      return MT_REPLAY_EXIT_IO;
    }
    ups.at = update_args.at;
    ups.count = update_args.count;
    ups.public_key = update_args.public_key;
    ups.installed_sequence = update_args.installed_sequence;
    ups.built_in_version = MT_BUILT_IN_VERSION;
    ups.profile = profile;
    ups.self_test = self_test;
    ups.self_test_length = n;
    ups.package_io.ctx = &package;
    ups.package_io.open = pkg_open;
    ups.package_io.read = pkg_read;
    ups.package_io.close = pkg_close;
    ups.chunk = chunk;
    ups.chunk_bytes = sizeof chunk;
    ups.slots[0] = slots[0];
    ups.slots[1] = slots[1];
    ups.slot_bytes = SLOT_BYTES;
    /* the device's budget (MT_TX_UPDATE_MEMORY_LIMIT): the profile's memory and 1 KiB */
    ups.memory_limit = (uint32_t)cfg.memory_limit + 1024u;
    ups.agent_line = agent_line;
    ups.agent_line_bytes = sizeof agent_line - 1;
    status = mt_replay_update(&opt, &ups, &io);
  } else
#endif
    status = mt_replay(&core, &opt, &io);
  if (in != stdin) {
    fclose(in);
  }
  if (fflush(stdout) != 0 && write_failed_on == NULL) {
    write_failed_on = "stdout";
    write_errno = errno;
  }
  if (write_failed_on != NULL) {
    if (strcmp(write_failed_on, "stdout") == 0) {
      put_error("write", "stdout", write_errno);
    }
    return MT_REPLAY_EXIT_IO;
  }
  return status;
}
