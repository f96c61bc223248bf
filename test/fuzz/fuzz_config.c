/*
 * libFuzzer target: arbitrary bytes as configuration updates. Byte 0 chooses the profile and the
 * drain (fz_begin); the rest is split on '\n' and each piece goes to mt_configure, 45 s apart,
 * each followed by the same few events of every kind and a tick 20 s later (windows close under
 * whatever the update set), then mt_finish. A rejected update must change nothing; an accepted
 * maxMessageBytes bounds every message after it. Checks: fuzz_common.h.
 */
#include "fuzz_common.h"

#define T0 1700000000000LL

static void events_at(int64_t t, int round) {
  static char line[1024];
  static const char *const fmt[] = {
      "{\"kind\":\"connection\",\"t\":%lld,\"proto\":\"tcp\",\"dir\":\"out\",\"local\":\"10.0.0.2\",\"lport\":50000,"
      "\"remote\":\"52.1.2.3\",\"rport\":443,\"bytesIn\":100,\"bytesOut\":200,\"app\":\"https\",\"host\":\"example.com\"}",
      "{\"kind\":\"connection\",\"t\":%lld,\"proto\":\"udp\",\"dir\":\"in\",\"local\":\"fe80::1\",\"lport\":%d,"
      "\"remote\":\"::ffff:10.1.2.3\",\"rport\":53,\"bytesIn\":9007199254740991,\"bytesOut\":0}",
      "{\"kind\":\"process\",\"t\":%lld,\"pid\":%d,\"ppid\":1,\"uid\":0,\"type\":\"exec\",\"cmd\":\"/bin/sh -c job\","
      "\"exe\":\"/bin/sh\",\"user\":\"root\"}",
      "{\"kind\":\"process\",\"t\":%lld,\"pid\":7,\"ppid\":1,\"uid\":%d,\"type\":\"fork\",\"cmd\":\"python3 app.py\"}",
      "{\"kind\":\"baseline\",\"t\":%lld,\"id\":\"CIS-1.1.%d\",\"group\":\"fs\",\"result\":\"fail\",\"severity\":\"critical\","
      "\"description\":\"d\",\"remediation\":\"r\",\"error\":\"e\"}",
      "{\"kind\":\"baseline\",\"t\":%lld,\"id\":\"CIS-2\",\"group\":\"net%d\",\"result\":\"error\",\"severity\":\"warning\","
      "\"description\":\"d\",\"remediation\":\"r\"}",
      "{\"kind\":\"sysinfo\",\"t\":%lld,\"os\":\"Linux\",\"osVersion\":\"12\",\"kernel\":\"6.1\",\"hw\":\"x86_64\",\"memTotal\":%d}",
  };
  for (size_t i = 0; i < sizeof fmt / sizeof fmt[0]; i++) {
    int n = snprintf(line, sizeof line, fmt[i], (long long)t, 1000 + round % 5);
    fz_after(mt_ingest_line(fz.core, line, (size_t)n), "mt_ingest_line (fixed event)",
             (const uint8_t *)line, (size_t)n, 1);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *p, *end;
  int round = 0;
  FZ_START(data, size);
  p = data + 1;
  end = data + size;
  for (;;) {
    const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
    size_t len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
    int64_t t = T0 + (int64_t)round * 45000;
    fz_after(mt_configure(fz.core, t, (const char *)p, len), "mt_configure", p, len, 0);
    events_at(t, round);
    fz_after(mt_tick(fz.core, t + 20000), "mt_tick", NULL, 0, 0);
    round++;
    if (nl == NULL) {
      break;
    }
    p = nl + 1;
  }
  fz_finish();
  fz_report();
  return 0;
}
