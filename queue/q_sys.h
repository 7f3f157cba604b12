/* queue/q_sys: the system calls the log makes, through one overridable table (SQLite's
 * os_unix.c aSyscall[] idea), so tests inject ENOSPC, EIO and friends where the disk would.
 *
 * Every entry has the libc contract (-1 and errno on failure). The log turns that into a
 * negative errno at the call site; errno never crosses a module boundary. Tests replace an entry,
 * run, and call q_sys_reset() (which first waits for the background thread to be idle). The
 * table is process-wide and not synchronized: change it only
 * while no log is in use on another thread, the background thread's segment jobs included
 * (core/rt_bg: a spare segment being made, a retired mapping being unmapped). */
#ifndef Q_SYS_H
#define Q_SYS_H

#include <sys/types.h>

typedef struct q_sys_ops {
    int (*openat)(int dirfd, const char *path, int flags, mode_t mode);
    int (*close)(int fd);
    int (*fallocate)(int fd, int mode, off_t off, off_t len);
    int (*ftruncate)(int fd, off_t len);
    ssize_t (*pwrite)(int fd, const void *buf, size_t n, off_t off);
    int (*fdatasync)(int fd);
    int (*fsync)(int fd);
    int (*renameat)(int olddirfd, const char *oldpath, int newdirfd, const char *newpath);
    int (*unlinkat)(int dirfd, const char *path, int flags);
    void *(*mmap)(void *addr, size_t len, int prot, int flags, int fd, off_t off);
    int (*munmap)(void *addr, size_t len);
} q_sys_ops;

extern q_sys_ops q_sys;

/* Restores every entry to the real system call. */
void q_sys_reset(void);

#endif
