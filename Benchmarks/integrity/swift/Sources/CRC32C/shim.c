#include "crc32c_swift.h"

/* The Swift loops' twin: the check of (sequence i, item i * 0x9E37...) for i < n, folded. */
uint64_t crc32c_c_loop(uint64_t n) {
    uint64_t acc = 0;
    for (uint64_t i = 0; i < n; i++) acc += crc32c_item8(i, i * 0x9E3779B97F4A7C15ull);
    return acc;
}
