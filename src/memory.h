/*
 * memory.h - how the process gives memory back after a peak of
 * connections: the settings of malloc and of the kernel's huge pages that
 * let idle workers' trims (worker.c, loop.c) return it.
 */
#ifndef KP_MEMORY_H
#define KP_MEMORY_H

/* Once, at start-up, before any thread. */
void memory_policy(void);

#endif
