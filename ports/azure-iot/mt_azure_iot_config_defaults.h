/*
 * Sizes and timings of the Azure IoT adapter (mt_azure_iot.h). Override any of them in your own
 * header, named by MT_AZURE_IOT_CONFIG_FILE (a quoted path, e.g. -DMT_AZURE_IOT_CONFIG_FILE=
 * '"my_azure_iot_config.h"'), or with -D.
 */
#ifndef MT_AZURE_IOT_CONFIG_DEFAULTS_H
#define MT_AZURE_IOT_CONFIG_DEFAULTS_H

#ifdef MT_AZURE_IOT_CONFIG_FILE
#include MT_AZURE_IOT_CONFIG_FILE
#endif

/* The outbox, in static memory: at most this many bytes of messages waiting for the hub ... */
#ifndef MT_AZ_OUTBOX_BYTES
#define MT_AZ_OUTBOX_BYTES 16384u
#endif
/* ... and at most this many messages. When either is reached the OLDEST waiting message is
 * dropped to make room for the new one (the newest data is the most useful after an outage). */
#ifndef MT_AZ_OUTBOX_MESSAGES
#define MT_AZ_OUTBOX_MESSAGES 16u
#endif
/* The largest message the adapter carries (the core's maxMessageBytes must not exceed it: a
 * longer message is dropped and counted). Also the size of the in-flight copy. */
#ifndef MT_AZ_MESSAGE_BYTES
#define MT_AZ_MESSAGE_BYTES 4096u
#endif
/* Room for the device twin document read on connect and for one desired patch. */
#ifndef MT_AZ_TWIN_BYTES
#define MT_AZ_TWIN_BYTES 4096u
#endif
/* Retry backoff after a failed connect or send: first delay, cap (seconds), and the jitter
 * (a random part of up to this percentage of the delay is added). */
#ifndef MT_AZ_BACKOFF_FIRST_SECONDS
#define MT_AZ_BACKOFF_FIRST_SECONDS 1u
#endif
#ifndef MT_AZ_BACKOFF_MAX_SECONDS
#define MT_AZ_BACKOFF_MAX_SECONDS 60u
#endif
#ifndef MT_AZ_BACKOFF_JITTER_PERCENT
#define MT_AZ_BACKOFF_JITTER_PERCENT 25u
#endif
/* Ticks the adapter thread sleeps when it has nothing to do (it polls the outbox and the twin). */
#ifndef MT_AZ_IDLE_TICKS
#define MT_AZ_IDLE_TICKS 5u
#endif
/* Ticks one middleware call (connect, send, twin) may take. */
#ifndef MT_AZ_CALL_TICKS
#define MT_AZ_CALL_TICKS (10u * TX_TIMER_TICKS_PER_SECOND)
#endif
/* Minimum stack of the adapter thread (TLS records are processed on it). */
#ifndef MT_AZ_MIN_STACK_BYTES
#define MT_AZ_MIN_STACK_BYTES 8192u
#endif

#endif
