/*
 * ratelimit.c - fixed one-second windows: simple, and a flood costs one
 * comparison per event.  The count of what was dropped is handed out with
 * the first event of a later window, so it is reported exactly once.
 */
#include "ratelimit.h"

bool kp_ratelimit_allow(struct kp_ratelimit *rl, double now, unsigned *suppressed_before)
{
    *suppressed_before = 0;
    if (rl->count == 0 || now - rl->window_start >= 1.0 || now < rl->window_start) {
        *suppressed_before = rl->suppressed;
        rl->window_start = now;
        rl->count = 0;
        rl->suppressed = 0;
    }
    rl->count++;
    if (rl->count <= rl->burst)
        return true;
    rl->suppressed++;
    return false;
}
