/* Only the declaration in include/FuzzDriver.h: libFuzzer itself is linked by -sanitize=fuzzer. */
#include "FuzzDriver.h"
