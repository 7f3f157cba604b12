/* worker/wk_atomic: the two low-level helpers the rings' wake-up protocols share.
 *
 * wk_fence_seq_cst(): a sequentially consistent fence (the store -> load barrier that the
 * "may be asleep" flag protocols need: see wk_park.h and wk_mesh.h). ThreadSanitizer does not
 * model standalone fences (GCC warns under -fsanitize=thread). That is harmless here: every fence
 * in worker/ only prevents a lost wake-up; no data is ever handed over on the strength of a
 * fence (all data travels through release/acquire pairs TSan does model), and the TSan runtime
 * still executes a real fence. So the warning is silenced for this one call. */
#ifndef WK_ATOMIC_H
#define WK_ATOMIC_H

#include <stdatomic.h>

#if defined(__SANITIZE_THREAD__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wtsan"
#endif
static inline void wk_fence_seq_cst(void) { atomic_thread_fence(memory_order_seq_cst); }
#if defined(__SANITIZE_THREAD__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

/* Spin-wait hint to the CPU (frees pipeline resources for the sibling hyperthread). */
static inline void wk_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#endif
