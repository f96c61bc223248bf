/* What the example's main.c (the same on every board) and a board file share. */
#ifndef EXAMPLE_H
#define EXAMPLE_H

#include "nx_api.h"

/* The settings header: example_config.h, or your copy (CMake's EXAMPLE_CONFIG_FILE). */
#ifdef EXAMPLE_CONFIG_FILE
#include EXAMPLE_CONFIG_FILE
#else
#include "example_config.h"
#endif

typedef struct EXAMPLE_SETTINGS_STRUCT {
  const CHAR *hub;
  const CHAR *device_id;
  const UCHAR *key; /* symmetric key (base64 text), or NULL/0: the X.509 certificate below */
  UINT key_length;
  const UCHAR *cert_der; /* X.509 device certificate and its RSA private key (PKCS#1 DER) */
  UINT cert_length;
  const UCHAR *cert_key_der;
  UINT cert_key_length;
  const UCHAR *ca_der; /* the trusted root CA */
  UINT ca_length;
  ULONG ip, mask, gateway, dns_server, sntp_server;
  const CHAR *agent_id;
  const CHAR *configuration;
  UINT message_format;
  ULONG run_seconds; /* 0: run for ever; else stop the agent and exit after this many seconds */
} EXAMPLE_SETTINGS;

/* Reads the settings and enters ThreadX (the board's main calls it). */
int example_main(int argc, char **argv);

/* The board: may override the settings main.c read from example_config.h (the Linux port's
 * command line does); returns 0, or prints one line and returns nonzero. */
int example_board_settings(int argc, char **argv, EXAMPLE_SETTINGS *settings);
/* The Ethernet driver NetX Duo runs on, and the board's MAC address. */
VOID example_board_network_driver(NX_IP_DRIVER *driver_req_ptr);
UINT example_board_network_configure(VOID);
/* One line of status (no newline), and the end of a run (Linux: exit; a device: never). */
VOID example_board_log(const CHAR *line);
VOID example_board_exit(int status);

#endif
