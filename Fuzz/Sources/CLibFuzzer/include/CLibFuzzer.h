// libFuzzer's entry point for a program that has its own `main` (SwiftPM gives every
// executable one): it parses libFuzzer's flags from argc/argv and runs `callback` on each input.
// Provided by libclang_rt.fuzzer_no_main, which Fuzz/run.sh links.
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
