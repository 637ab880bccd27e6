#ifndef DFM_FUZZC_H
#define DFM_FUZZC_H
#include <stddef.h>
#include <stdint.h>
/* The fuzz targets written in C (they call only the public C ABI, Include/dfm.h). */
int dfm_fuzz_checkpoint(const uint8_t *data, size_t size);
int dfm_fuzz_abi(const uint8_t *data, size_t size);
#endif
