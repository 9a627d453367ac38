/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The stop flag: a signal handler, or a thread that gives up, stores a non-zero
 * value (a signal's number); every thread that must unwind polls it. */
#ifndef VFIOMIG_BASE_STOP_H
#define VFIOMIG_BASE_STOP_H

#include <stdatomic.h>

/* An atomic int rather than a vstop_t: a signal handler may store to
 * either, but only the atomic may also be read by other threads, or stored by one,
 * without a data race. Being lock-free, its loads and stores are async-signal-safe. */
typedef _Atomic int vstop_t;

_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "the stop flag is set in signal handlers");

#endif
