# CMake toolchain file: Arm GNU toolchain (arm-none-eabi-gcc, newlib) for a Cortex-M3. Copy and
# change -mcpu (cortex-m4 -mfloat-abi=hard -mfpu=fpv4-sp-d16, cortex-m33, ...) for another core.
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_AR arm-none-eabi-ar)
set(CMAKE_RANLIB arm-none-eabi-ranlib)
# No OS to link a test program against: let CMake's compiler check build a static library.
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
set(CMAKE_C_FLAGS_INIT "-mcpu=cortex-m3 -mthumb -ffunction-sections -fdata-sections")
