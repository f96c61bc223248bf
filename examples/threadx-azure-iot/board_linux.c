/*
 * The example on ThreadX's Linux port: NetX Duo on a TAP device (ports/netxduo-tap), status on
 * stdout. The command line overrides example_config.h, so one build serves a desktop run and
 * the end-to-end test (scripts/test-azure-iot.sh); key, certificate and CA come from files,
 * never from the command line:
 *   threadx-azure-iot <tap> [--ip A] [--mask A] [--gateway A] [--dns A] [--sntp A] [--hub NAME]
 *       [--device ID] [--key-file F | --cert-file F --cert-key-file F] [--ca-file F]
 *       [--format json|cbor] [--configuration JSON] [--run-seconds N]
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "example.h"
#include "nx_tap_driver.h"

static const CHAR *tap_name;
static UCHAR key[256], cert[4096], cert_key[4096], ca[4096];

/* The whole file into buf; trailing white space dropped from text. 0: unreadable or too long. */
static UINT read_file(const char *path, UCHAR *buf, UINT capacity, int text) {
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  size_t n = fread(buf, 1, capacity, f);
  fclose(f);
  while (text && n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ')) n--;
  return n == capacity ? 0 : (UINT)n;
}

static int address(const char *text, ULONG *out) {
  struct in_addr a;
  if (inet_pton(AF_INET, text, &a) != 1) return -1;
  *out = ntohl(a.s_addr);
  return 0;
}

int example_board_settings(int argc, char **argv, EXAMPLE_SETTINGS *s) {
  if (argc < 2 || argv[1][0] == '-') {
    fprintf(stderr,
            "usage: %s <tap device> [--ip A] [--dns A] [--sntp A] [--hub NAME] ... (README)\n",
            argv[0]);
    return 2;
  }
  tap_name = argv[1];
  for (int i = 2; i < argc; i += 2) {
    const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    int bad = v == NULL;
    if (bad) {
    } else if (!strcmp(o, "--ip"))
      bad = address(v, &s->ip);
    else if (!strcmp(o, "--mask"))
      bad = address(v, &s->mask);
    else if (!strcmp(o, "--gateway"))
      bad = address(v, &s->gateway);
    else if (!strcmp(o, "--dns"))
      bad = address(v, &s->dns_server);
    else if (!strcmp(o, "--sntp"))
      bad = address(v, &s->sntp_server);
    else if (!strcmp(o, "--hub"))
      s->hub = v;
    else if (!strcmp(o, "--device"))
      s->device_id = v;
    else if (!strcmp(o, "--configuration"))
      s->configuration = v;
    else if (!strcmp(o, "--run-seconds"))
      s->run_seconds = strtoul(v, NULL, 10);
    else if (!strcmp(o, "--format")) {
      bad = strcmp(v, "json") != 0 && strcmp(v, "cbor") != 0;
      s->message_format = strcmp(v, "cbor") == 0 ? 1u : 0u;
    } else if (!strcmp(o, "--key-file")) {
      s->key = key;
      bad = (s->key_length = read_file(v, key, sizeof key, 1)) == 0;
      s->cert_length = 0;
    } else if (!strcmp(o, "--cert-file")) {
      s->cert_der = cert;
      bad = (s->cert_length = read_file(v, cert, sizeof cert, 0)) == 0;
      s->key_length = 0;
    } else if (!strcmp(o, "--cert-key-file")) {
      s->cert_key_der = cert_key;
      bad = (s->cert_key_length = read_file(v, cert_key, sizeof cert_key, 0)) == 0;
    } else if (!strcmp(o, "--ca-file")) {
      s->ca_der = ca;
      bad = (s->ca_length = read_file(v, ca, sizeof ca, 0)) == 0;
    } else {
      fprintf(stderr, "threadx-azure-iot: unknown option %s\n", o);
      return 2;
    }
    if (bad) {
      /* Names the option only: a value may be a path to a secret, never echoed. */
      fprintf(stderr, "threadx-azure-iot: %s: missing, unreadable or invalid value\n", o);
      return 2;
    }
  }
  return 0;
}

UINT example_board_network_configure(VOID) {
  /* A locally administered MAC address. */
  return nx_tap_driver_configure(tap_name, 0x0200u, 0x4d540002u);
}

VOID example_board_network_driver(NX_IP_DRIVER *driver_req_ptr) { nx_tap_driver(driver_req_ptr); }

VOID example_board_log(const CHAR *line) {
  printf("%s\n", line);
  fflush(stdout);
}

VOID example_board_exit(int status) {
  fflush(stdout);
  exit(status);
}

int main(int argc, char **argv) { return example_main(argc, argv); }
