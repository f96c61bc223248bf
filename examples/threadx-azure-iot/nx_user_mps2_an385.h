/* NetX Duo's user configuration for the Cortex-M3 image (NX_USER_FILE): random numbers from
 * the board (board_mps2_an385.c; a TRNG on a product), as newlib's rand() would allocate. */
#ifndef NX_USER_H
#define NX_USER_H
int example_board_random(void);
void example_board_srand(unsigned seed);
#define NX_RAND example_board_random
#define NX_SRAND example_board_srand
#endif
