/*
 * TEST DOUBLE — NOT ThreadX. Basic types as a 32-bit ThreadX port defines them (ULONG is 32
 * bits there, so it is here, even on a 64-bit host). See ports/threadx/shim/README.md.
 */
#ifndef TX_PORT_H
#define TX_PORT_H

#define VOID void
typedef char CHAR;
typedef unsigned char UCHAR;
typedef int INT;
typedef unsigned int UINT;
typedef int LONG;
typedef unsigned int ULONG;
typedef short SHORT;
typedef unsigned short USHORT;
typedef unsigned long long ULONG64;

#define TX_INT_DISABLE ((UINT)1)
#define TX_INT_ENABLE ((UINT)0)

#endif
