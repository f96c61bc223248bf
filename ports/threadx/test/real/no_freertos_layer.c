/* Placeholder for ThreadX's FreeRTOS layer target when a trimmed tree lacks utility/ (see
 * CMakeLists.txt); never compiled, as that target is excluded from the build. */
typedef int mt_no_freertos_layer;
