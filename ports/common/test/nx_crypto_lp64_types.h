/* nx_crypto standalone on an LP64 host: its port header would make ULONG 64 bits, and its huge
   numbers need a 32-bit ULONG (a 64-bit product type). Force-included by the host test build. */
#define VOID void
typedef char CHAR;
typedef unsigned char UCHAR;
typedef int INT;
typedef unsigned int UINT;
typedef int LONG;
typedef unsigned int ULONG;
typedef short SHORT;
typedef unsigned short USHORT;
