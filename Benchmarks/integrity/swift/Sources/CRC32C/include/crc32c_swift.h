/* The module's one header: crc32c.h (inline assembly, inlinable anywhere) and, for comparison,
 * the same item check written with the compiler builtin under target("sse4.2"). That one must
 * not be always_inline: Swift 6.3.1's LLVM then crashes ("Cannot select: intrinsic
 * x86.sse42.crc32.64.64", signal 6) compiling the Swift caller, which lacks SSE4.2; as a plain
 * static inline function it is emitted out of line and called. */
#ifndef CRC32C_SWIFT_H
#define CRC32C_SWIFT_H
#include "../../../../crc32c.h"

static inline __attribute__((target("sse4.2")))
uint32_t crc32c_item8_builtin(uint64_t sequence, uint64_t item) {
    return ~(uint32_t)__builtin_ia32_crc32di((uint32_t)__builtin_ia32_crc32di(~0u, sequence), item);
}

/* The reference: the loop below in C (shim.c, built by SwiftPM in release). */
uint64_t crc32c_c_loop(uint64_t n);
#endif
