// The spawner's GNU extensions (Sources/Spawning/Spawned.swift), compiled here with _GNU_SOURCE:
// Swift's Glibc module is built without it and declares neither, and a static inline wrapper in
// the header would be compiled by Swift's importer without it too.
#include "CSharedRingShims.h"

int csr_spawn_add_closefrom(posix_spawn_file_actions_t *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
}

int csr_pipe_cloexec(int ends[2]) {
    return pipe2(ends, O_CLOEXEC) == 0 ? 0 : errno;
}
