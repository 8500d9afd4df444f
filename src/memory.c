/*
 * memory.c - malloc and huge-page settings (see memory.h).
 */
#include <malloc.h>
#include <sys/prctl.h>

#include "log.h"
#include "memory.h"

#define MMAP_THRESHOLD (128 << 10)      /* glibc's default, but fixed */
#define TRIM_THRESHOLD (64 << 10)

void memory_policy(void)
{
    /* glibc raises its mmap threshold to the size of the last mapped block
     * freed (libev's tables after a peak of 10,000 connections: 320 kB) and
     * its trim threshold to twice that; each thread's heap then keeps that
     * much free at its top, which malloc_trim does not return (it trims the
     * main heap only).  Fixed thresholds keep big tables in mappings of
     * their own, and the tops small. */
    mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD);
    mallopt(M_TOP_PAD, 0);
    /* With transparent huge pages "always", khugepaged refills the pages a
     * trim returned as one 2 MB page per thread heap (seen in the kTLS VM:
     * RSS back at its peak a few seconds after the trim).  The daemon's
     * working set is small and scattered: huge pages only add to it. */
    if (prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) != 0)
        log_warn("prctl(PR_SET_THP_DISABLE): %m; memory may not go back after a peak");
}
