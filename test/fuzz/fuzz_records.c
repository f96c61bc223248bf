/*
 * libFuzzer target: arbitrary bytes as a sequence of typed calls. Byte 0 chooses the profile and
 * the drain (fz_begin); then each op byte picks a call whose fields come from the next bytes:
 * connection, process, baseline and sysinfo records (enumerations, families, lengths and
 * strings mostly valid, sometimes raw), mt_tick, mt_configure (a preset or bytes), a trace
 * line, a raw slice for mt_ingest_connection_records, and mt_finish. Times mostly move
 * forward in small steps, sometimes jump far ahead or step back. Checks: fuzz_common.h.
 */
#include "fuzz_common.h"

#define T0 1700000000000LL

typedef struct rd {
  const uint8_t *p;
  size_t n, i;
} rd_t;

static uint8_t u8(rd_t *r) { return r->i < r->n ? r->p[r->i++] : 0; }
static uint16_t u16(rd_t *r) {
  uint16_t lo = u8(r);
  return (uint16_t)(lo | (uint16_t)(u8(r) << 8));
}
static uint64_t u64(rd_t *r) {
  uint64_t v = 0;
  for (int k = 0; k < 8; k++) v |= (uint64_t)u8(r) << (8 * k);
  return v;
}

/* A string taken from the input: mostly short, 255 announces a 16-bit length. */
static const char *str(rd_t *r, size_t *len) {
  size_t l = u8(r);
  const char *s;
  if (l == 255) l = u16(r);
  if (l > r->n - r->i) l = r->n - r->i;
  s = (const char *)r->p + r->i;
  r->i += l;
  *len = l;
  return l > 0 ? s : NULL;
}

static int64_t last_t = T0;

static int64_t when(rd_t *r) {
  uint8_t b = u8(r);
  /* unsigned arithmetic: last_t may be near INT64_MAX, and the wrap is as good a time as any */
  if (b < 200) return (int64_t)((uint64_t)last_t + (uint64_t)b * 100u);
  if (b < 240) return (int64_t)((uint64_t)last_t + (uint64_t)u16(r) * 1000u); /* up to 18 h ahead */
  if (b < 250)
    return (int64_t)((uint64_t)last_t - (uint64_t)u8(r) * 10u); /* back in time: skipped */
  return (int64_t)u64(r);                                       /* anything */
}

static void address(rd_t *r, uint8_t out[16], uint8_t *family) {
  static const uint8_t v4[4][4] = {{10, 0, 0, 2}, {52, 1, 2, 3}, {192, 168, 1, 9}, {0, 0, 0, 0}};
  static const uint8_t v6[3][16] = {
      {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
      {0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2},
      {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 3},
  };
  uint8_t k = u8(r);
  memset(out, 0, 16);
  if (k < 120) {
    memcpy(out, v4[k % 4], 4);
    *family = MT_FAMILY_IPV4;
  } else if (k < 240) {
    memcpy(out, v6[k % 3], 16);
    *family = MT_FAMILY_IPV6;
  } else {
    for (int i = 0; i < 16; i++) out[i] = u8(r);
    *family = k < 248 ? MT_FAMILY_IPV4 : k < 254 ? MT_FAMILY_IPV6 : u8(r);
  }
}

static uint16_t port(rd_t *r) {
  static const uint16_t ports[7] = {0, 53, 443, 8883, 40000, 65535, 123};
  uint8_t k = u8(r);
  return k < 224 ? ports[k % 7] : u16(r);
}

static uint8_t choice(rd_t *r, uint8_t n) {
  uint8_t b = u8(r);
  return b < 250 ? (uint8_t)(b % n) : b; /* now and then out of range */
}

static const char *const presets[] = {
    "{\"maxMessageBytes\":1024}",
    "{\"maxMessageBytes\":262144}",
    "{\"network\":{\"cacheSize\":1,\"priority\":\"high\"},\"process\":{\"cacheSize\":2}}",
    "{\"network\":{\"aggregation\":false,\"cacheSize\":3},\"process\":{\"aggregation\":false,\"cacheSize\":2}}",
    "{\"network\":{\"enabled\":false},\"process\":{\"enabled\":false},\"baseline\":{\"enabled\":false},\"systemInformation\":{\"enabled\":false}}",
    "{\"network\":{\"enabled\":true},\"process\":{\"enabled\":true},\"baseline\":{\"enabled\":true},\"systemInformation\":{\"enabled\":true}}",
    "{\"priorityIntervals\":{\"high\":1,\"medium\":2,\"low\":3},\"sendEmptyWindows\":true}",
    "{\"priorityIntervals\":{\"high\":2678400,\"medium\":2678400,\"low\":2678400}}",
    "{\"sendEmptyWindows\":false,\"utcOffsetMinutes\":-720}",
    "{\"baseline\":{\"disabledGroups\":[\"fs\"],\"disabledChecks\":[\"CIS-1\"],\"interval\":\"high\"}}",
    "{\"systemInformation\":{\"interval\":\"high\"},\"network\":{\"priority\":\"low\"}}",
    "{\"network\":{\"cacheSize\":0}}",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  rd_t r;
  FZ_START(data, size);
  r.p = data;
  r.n = size;
  r.i = 1;
  last_t = T0;
  while (r.i < r.n) {
    uint8_t op = u8(&r) % 10;
    mt_status_t st = MT_OK;
    int64_t t = when(&r);
    switch (op) {
      case 0:
      case 1: {
        mt_connection_t c;
        memset(&c, 0, sizeof c);
        c.t_ms = t;
        c.bytes_in = (u8(&r) & 1) ? u64(&r) : u16(&r);
        c.bytes_out = (u8(&r) & 1) ? u64(&r) : u16(&r);
        address(&r, c.local, &c.family);
        address(&r, c.remote, &c.remote_family);
        if (c.remote_family == c.family && (u8(&r) & 1)) c.remote_family = 0;
        c.local_port = port(&r);
        c.remote_port = port(&r);
        c.protocol = choice(&r, 3);
        c.direction = choice(&r, 2);
        c.app = str(&r, &c.app_len);
        c.host = str(&r, &c.host_len);
        st = fz_after(mt_ingest_connection(fz.core, &c), "mt_ingest_connection", NULL, 0, 0);
        break;
      }
      case 2: {
        mt_process_t pr;
        memset(&pr, 0, sizeof pr);
        pr.t_ms = t;
        pr.pid = u8(&r);
        pr.ppid = u8(&r);
        pr.uid = (u8(&r) & 1) ? (uint32_t)u64(&r) : u8(&r) % 3;
        pr.type = choice(&r, 2);
        pr.cmd = str(&r, &pr.cmd_len);
        pr.exe = str(&r, &pr.exe_len);
        pr.user = str(&r, &pr.user_len);
        st = fz_after(mt_ingest_process(fz.core, &pr), "mt_ingest_process", NULL, 0, 0);
        break;
      }
      case 3: {
        mt_baseline_t b;
        memset(&b, 0, sizeof b);
        b.t_ms = t;
        b.result = choice(&r, 3);
        b.severity = choice(&r, 4);
        b.id = str(&r, &b.id_len);
        b.group = str(&r, &b.group_len);
        b.error = str(&r, &b.error_len);
        b.description = str(&r, &b.description_len);
        b.remediation = str(&r, &b.remediation_len);
        st = fz_after(mt_ingest_baseline(fz.core, &b), "mt_ingest_baseline", NULL, 0, 0);
        break;
      }
      case 4: {
        mt_sysinfo_t s;
        memset(&s, 0, sizeof s);
        s.t_ms = t;
        s.mem_total = (u8(&r) & 1) ? u64(&r) : (uint64_t)u16(&r) << 20;
        s.os = str(&r, &s.os_len);
        s.os_version = str(&r, &s.os_version_len);
        s.kernel = str(&r, &s.kernel_len);
        s.hw = str(&r, &s.hw_len);
        st = fz_after(mt_ingest_sysinfo(fz.core, &s), "mt_ingest_sysinfo", NULL, 0, 0);
        break;
      }
      case 5:
        st = fz_after(mt_tick(fz.core, t), "mt_tick", NULL, 0, 0);
        break;
      case 6: {
        uint8_t k = u8(&r);
        const char *json;
        size_t len;
        if (k < 200) {
          json = presets[k % (sizeof presets / sizeof presets[0])];
          len = strlen(json);
        } else {
          json = str(&r, &len);
        }
        st = fz_after(mt_configure(fz.core, t, json != NULL ? json : "", len), "mt_configure",
                      (const uint8_t *)json, len, 0);
        break;
      }
      case 7: {
        size_t len;
        const char *line = str(&r, &len);
        st = fz_after(mt_ingest_line(fz.core, line, len), "mt_ingest_line", (const uint8_t *)line,
                      len, 1);
        break;
      }
      case 8: {
        size_t len = u16(&r), consumed = 0, skipped = 0;
        const uint8_t *rec = r.p + r.i;
        if (len > r.n - r.i) len = r.n - r.i;
        r.i += len;
        st = mt_ingest_connection_records(fz.core, rec, len, &consumed, &skipped);
        if (st == MT_ERR_PARAM) {
          /* Only when the slice holds no whole record. */
          FZ_CHECK(
              len < 68 || (size_t)68 + (rec[64] | rec[65] << 8) + (rec[66] | rec[67] << 8) > len,
              "mt_ingest_connection_records: MT_ERR_PARAM for a slice of %zu bytes with a whole record",
              len);
          continue;
        }
        st = fz_after(st, "mt_ingest_connection_records", NULL, 0, 0);
        FZ_CHECK(st != MT_OK || (consumed > 0 && consumed <= len), "records: consumed %zu of %zu",
                 consumed, len);
        break;
      }
      default:
        fz_finish();
        break;
    }
    if (st == MT_OK && t > last_t) last_t = t;
  }
  fz_finish();
  fz_report();
  return 0;
}
