/*
 * Test builds only (SPEC R9 on the device): writes every input the agent gives its core as a
 * trace line (SPEC R10) to the file named by MT_TRACE_FILE, so `microtally replay` on V8 can be
 * given the same events and its messages compared, byte for byte, with those the hub received
 * (test/azure-iot/e2e.mjs). Linked with -Wl,--wrap=<call> for each core call below
 * (test/CMakeLists.txt): each wrapper records, then calls the real one. Inputs a trace cannot
 * carry (a transport loss, a core reset after a fault) are written as an `unreplayable` line,
 * which the test refuses instead of comparing.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "microtally.h"

mt_status_t __real_mt_ingest_connection(mt_core_t *core, const mt_connection_t *event);
mt_status_t __real_mt_ingest_line(mt_core_t *core, const char *line, size_t len);
mt_status_t __real_mt_configure(mt_core_t *core, int64_t t_ms, const char *json, size_t len);
mt_status_t __real_mt_tick(mt_core_t *core, int64_t t_ms);
mt_status_t __real_mt_report_loss(mt_core_t *core, mt_loss_source_t source, int64_t count);
mt_status_t __real_mt_reset(mt_core_t *core);
mt_status_t __wrap_mt_ingest_connection(mt_core_t *core, const mt_connection_t *event);
mt_status_t __wrap_mt_ingest_line(mt_core_t *core, const char *line, size_t len);
mt_status_t __wrap_mt_configure(mt_core_t *core, int64_t t_ms, const char *json, size_t len);
mt_status_t __wrap_mt_tick(mt_core_t *core, int64_t t_ms);
mt_status_t __wrap_mt_report_loss(mt_core_t *core, mt_loss_source_t source, int64_t count);
mt_status_t __wrap_mt_reset(mt_core_t *core);

static FILE *trace(void) {
  static FILE *file;
  static int opened;
  if (!opened) {
    opened = 1;
    const char *path = getenv("MT_TRACE_FILE");
    if (path != NULL && *path != '\0') file = fopen(path, "w");
  }
  return file;
}

/* A string as JSON text (the app and host names are short ASCII; others escaped). */
static void json_string(FILE *f, const char *s, size_t n) {
  fputc('"', f);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\')
      fprintf(f, "\\%c", c);
    else if (c < 0x20)
      fprintf(f, "\\u%04x", c);
    else
      fputc(c, f);
  }
  fputc('"', f);
}

static void address(FILE *f, const uint8_t *bytes, uint8_t family) {
  char text[INET6_ADDRSTRLEN];
  inet_ntop(family == MT_FAMILY_IPV6 ? AF_INET6 : AF_INET, bytes, text, sizeof text);
  fprintf(f, "\"%s\"", text);
}

mt_status_t __wrap_mt_ingest_connection(mt_core_t *core, const mt_connection_t *e) {
  FILE *f = trace();
  if (f != NULL) {
    static const char *const proto[] = {"tcp", "udp", "icmp"};
    fprintf(f,
            "{\"kind\":\"connection\",\"t\":%" PRId64 ",\"proto\":\"%s\",\"dir\":\"%s\",\"local\":",
            e->t_ms, e->protocol < 3 ? proto[e->protocol] : "?",
            e->direction == MT_DIR_OUT ? "out" : "in");
    address(f, e->local, e->family);
    fprintf(f, ",\"lport\":%u,\"remote\":", e->local_port);
    address(f, e->remote, e->remote_family ? e->remote_family : e->family);
    fprintf(f, ",\"rport\":%u,\"bytesIn\":%" PRIu64 ",\"bytesOut\":%" PRIu64, e->remote_port,
            e->bytes_in, e->bytes_out);
    if (e->app_len > 0) {
      fputs(",\"app\":", f);
      json_string(f, e->app, e->app_len);
    }
    if (e->host_len > 0) {
      fputs(",\"host\":", f);
      json_string(f, e->host, e->host_len);
    }
    fputs("}\n", f);
    fflush(f);
  }
  return __real_mt_ingest_connection(core, e);
}

mt_status_t __wrap_mt_ingest_line(mt_core_t *core, const char *line, size_t len) {
  FILE *f = trace();
  if (f != NULL) {
    fwrite(line, 1, len, f);
    fputc('\n', f);
    fflush(f);
  }
  return __real_mt_ingest_line(core, line, len);
}

mt_status_t __wrap_mt_configure(mt_core_t *core, int64_t t_ms, const char *json, size_t len) {
  FILE *f = trace();
  if (f != NULL) {
    fprintf(f, "{\"kind\":\"config\",\"t\":%" PRId64 ",\"config\":", t_ms);
    fwrite(json, 1, len, f);
    fputs("}\n", f);
    fflush(f);
  }
  return __real_mt_configure(core, t_ms, json, len);
}

mt_status_t __wrap_mt_tick(mt_core_t *core, int64_t t_ms) {
  FILE *f = trace();
  if (f != NULL) {
    fprintf(f, "{\"kind\":\"tick\",\"t\":%" PRId64 "}\n", t_ms);
    fflush(f);
  }
  return __real_mt_tick(core, t_ms);
}

mt_status_t __wrap_mt_report_loss(mt_core_t *core, mt_loss_source_t source, int64_t count) {
  FILE *f = trace();
  if (f != NULL) {
    fprintf(f, "{\"unreplayable\":\"loss\",\"source\":%d,\"count\":%" PRId64 "}\n", (int)source,
            count);
    fflush(f);
  }
  return __real_mt_report_loss(core, source, count);
}

mt_status_t __wrap_mt_reset(mt_core_t *core) {
  FILE *f = trace();
  if (f != NULL) {
    fputs("{\"unreplayable\":\"reset\"}\n", f);
    fflush(f);
  }
  return __real_mt_reset(core);
}
