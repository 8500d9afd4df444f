/*
 * ratelimit.h - at most N events per second per cause, then one summary.
 *
 * The caller owns the state and the clock (seconds, monotonic), so the
 * limiter is pure arithmetic and unit-tested with an injected clock.
 * Not thread-safe: log.c serialises its use.
 */
#ifndef KP_RATELIMIT_H
#define KP_RATELIMIT_H

#include <stdbool.h>

struct kp_ratelimit {
    unsigned burst;             /* events allowed per one-second window */
    double window_start;
    unsigned count;             /* events seen in this window */
    unsigned suppressed;        /* of them, beyond burst */
};

/* May the event at time now be reported?  *suppressed_before is set to the
 * number of events dropped in an earlier window that has ended and not yet
 * been reported (0 if none): report it before this event. */
bool kp_ratelimit_allow(struct kp_ratelimit *rl, double now, unsigned *suppressed_before);

#endif
