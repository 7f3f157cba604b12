#include "queue/q_sys.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/rt_bg.h"

static int sys_openat(int dirfd, const char *path, int flags, mode_t mode)
{
    return openat(dirfd, path, flags, mode);
}

#define REAL_OPS                                                                              \
    {                                                                                         \
        .openat = sys_openat, .close = close, .fallocate = fallocate, .ftruncate = ftruncate, \
        .pwrite = pwrite, .fdatasync = fdatasync, .fsync = fsync, .renameat = renameat,       \
        .unlinkat = unlinkat, .mmap = mmap, .munmap = munmap,                                 \
    }

q_sys_ops q_sys = REAL_OPS;

void q_sys_reset(void)
{
    rt_bg_wait_idle(); /* a detached job (a retired mapping's munmap) may still call through it */
    q_sys = (q_sys_ops)REAL_OPS;
}
