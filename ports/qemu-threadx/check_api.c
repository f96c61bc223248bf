/*
 * `--check-api`: the agent's calls that replay does not reach, checked on the real kernel with
 * the real core: refusals before the start, a refused agent id and its reason, a start after a
 * failed one, NULL and blank lines, a line earlier than the previous one, one update or line at
 * a time (the feeder outranks the agent for a moment, so a line stays pending), a line longer
 * than the agent's buffer, the summary before and after the stop, and calls after the stop.
 * Prints `ok …` / `FAIL …` lines and `N passed, M failed` on stdout; exit status 0 or 1.
 */
#include <string.h>

#include "tx_api.h"

#include "check_api.h"
#include "microtally_threadx.h"

#define LINE(t)                                                \
  "{\"kind\":\"connection\",\"t\":" t                          \
  ",\"proto\":\"tcp\",\"dir\":\"out\",\"local\":\"10.0.0.2\"," \
  "\"lport\":40000,\"remote\":\"20.1.2.3\",\"rport\":8883,\"bytesIn\":100,\"bytesOut\":50}"

static unsigned passed, failed;
static void (*say)(const char *text);

static void check(int ok, const char *what) {
  say(ok ? "ok   " : "FAIL ");
  say(what);
  say("\n");
  if (ok)
    passed++;
  else
    failed++;
}

static CHAR why[MT_TX_REASON_BYTES];

static int starts_with(const char *s, const char *prefix) {
  return strncmp(s, prefix, strlen(prefix)) == 0;
}

static UINT post(const char *line) { return mt_tx_post_line(line, (ULONG)strlen(line)); }

int check_api(const check_api_io_t *io) {
  MT_TX_CONFIG *cfg = io->cfg;
  TX_THREAD *feeder = io->feeder;
  CHAR *summary = io->summary;
  ULONG summary_size = io->summary_size;
  ULONG n = 0;
  UINT old;
  MT_TX_STATS stats;
  say = io->print;

  check(post(LINE("1767225600000")) == TX_QUEUE_ERROR,
        "mt_tx_post_line before mt_tx_start: TX_QUEUE_ERROR");
  check(mt_tx_summary_get(summary, summary_size, &n) == TX_QUEUE_ERROR,
        "mt_tx_summary_get before mt_tx_start: TX_QUEUE_ERROR");

  cfg->agent_id = "not-a-uuid";
  check(mt_tx_start(cfg) == MT_TX_REJECTED,
        "a malformed agent id: mt_tx_start returns MT_TX_REJECTED");
  (void)mt_tx_configure_result(why, sizeof why);
  check(strstr(why, "UUID") != NULL,
        "... and mt_tx_configure_result gives the core's reason (names the UUID form)");
  cfg->agent_id = "0123abcd-4567-89ef-0123-456789abcdef";
  check(mt_tx_start(cfg) == TX_SUCCESS, "a start after the refused one succeeds");

  check(mt_tx_post_line(TX_NULL, 3) == TX_PTR_ERROR, "a NULL line with a length: TX_PTR_ERROR");
  check(mt_tx_post_line(TX_NULL, 0) == TX_SUCCESS &&
            mt_tx_configure_result(why, sizeof why) == TX_SUCCESS,
        "an empty line is taken (blank: ignored but counted)");
  check(post(LINE("1767225600000")) == TX_SUCCESS &&
            mt_tx_configure_result(why, sizeof why) == TX_SUCCESS,
        "a connection line: taken at once by the higher-priority agent thread");
  check(post(LINE("1767225500000")) == TX_SUCCESS &&
            mt_tx_configure_result(why, sizeof why) == MT_TX_REJECTED &&
            starts_with(why, "time 1767225500000 is earlier"),
        "a line earlier than the previous: MT_TX_REJECTED, the core's reason");

  /* The feeder outranks the agent: what it hands over stays pending until it steps back. */
  (void)tx_thread_priority_change(feeder, 5, &old);
  check(post(LINE("1767225601000")) == TX_SUCCESS &&
            mt_tx_configure_result(why, sizeof why) == MT_TX_PENDING,
        "a line the agent has not taken yet: MT_TX_PENDING");
  check(post(LINE("1767225602000")) == MT_TX_PENDING,
        "a second line meanwhile is refused: MT_TX_PENDING");
  check(mt_tx_configure("{}", 2) == MT_TX_PENDING,
        "an update meanwhile is refused too (one buffer)");
  (void)tx_thread_priority_change(feeder, old, &old);
  check(mt_tx_configure_result(why, sizeof why) == TX_SUCCESS,
        "once the feeder steps back the agent takes the pending line");

  /* Longer than the agent's buffer: only its length counts, so the scratch line's size will do. */
  memset(io->line, ' ', io->line_size);
  check(
      mt_tx_post_line(io->line, (ULONG)io->line_size + 10) == TX_SUCCESS &&
          mt_tx_configure_result(why, sizeof why) == MT_TX_REJECTED &&
          starts_with(why, "line too long ("),
      "a line longer than the agent's buffer is measured, not copied: the core refuses it with its length");

  check(mt_tx_summary_get(summary, summary_size, &n) == MT_TX_PENDING,
        "mt_tx_summary_get while running: MT_TX_PENDING");
  check(mt_tx_stop(TX_WAIT_FOREVER) == TX_SUCCESS, "mt_tx_stop from another thread: TX_SUCCESS");
  check(mt_tx_summary_get(summary, 4, &n) == MT_TX_TOO_LONG,
        "a summary buffer too small: MT_TX_TOO_LONG");
  check(mt_tx_summary_get(summary, summary_size - 1, &n) == TX_SUCCESS && n > 0,
        "the summary after the stop");
  summary[n] = '\0';
  /* 5 lines (blank, 2 taken, 2 refused): the stop added no input of its own. */
  check(starts_with(summary, "{\"lines\":5,\"accepted\":2,\"skipped\":2,\"blank\":1,"),
        "... counts the lines as the core saw them; the stop added no input");
  check(post(LINE("1767225603000")) == MT_TX_STOPPED,
        "mt_tx_post_line after the stop: MT_TX_STOPPED");
  mt_tx_stats_get(&stats);
  check(stats.lines_accepted == 3 && stats.lines_rejected == 2,
        "MT_TX_STATS counts 3 lines taken (blank included), 2 refused");

  io->put_number(passed);
  say(" passed, ");
  io->put_number(failed);
  say(" failed\n");
  return failed == 0 ? 0 : 1;
}
