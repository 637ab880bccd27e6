#ifndef DFM_FUZZ_DRIVER_H
#define DFM_FUZZ_DRIVER_H
#include <stddef.h>
#include <stdint.h>
/* libFuzzer's driver (libclang_rt.fuzzer): each target's main.swift calls it, as SwiftPM
 * gives an executable its own main. */
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
#endif
