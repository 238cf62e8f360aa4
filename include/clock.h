/* Clocks and timed waits shared by every module. Waits use CLOCK_MONOTONIC so that a
 * change of the wall clock (NTP step, manual set) never shortens or stretches them. */
#ifndef MXE_CLOCK_H
#define MXE_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC in milliseconds. */
int64_t mxe_now_mono_ms(void);
/* clock_gettime(id) in nanoseconds, for durations (CPU-time clocks too); 0 when the clock
 * is unavailable. */
int64_t mxe_clock_ns(clockid_t id);
/* CLOCK_REALTIME in seconds since the epoch. */
double mxe_now_unix(void);

/* A condition variable whose timed waits are measured on CLOCK_MONOTONIC; 0 or an errno. */
int mxe_cond_init_mono(pthread_cond_t *cv);
/* The absolute deadline, for pthread_cond_timedwait on such a condition variable, of the
 * CLOCK_MONOTONIC instant `at_ms` (e.g. mxe_now_mono_ms() + 250). */
struct timespec mxe_mono_deadline(int64_t at_ms);

#endif
