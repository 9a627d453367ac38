/* The table of conformance checks; the helpers they share are in check_steps.c. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"

const struct check_def check_table[CK_NR_CHECKS] = {
	[CK_FLAGS] = { "flags", "the migration flags are a legal combination",
		"VFIO_DEVICE_FEATURE_MIGRATION: STOP_COPY is mandatory, P2P and PRE_COPY are "
		"optional, no other bit is defined", false, check_flags },
	[CK_ARCS] = { "arcs", "every FSM arc the flags promise works (GET after each SET)",
		"vfio.h: the driver implements each arc of its flags; after a successful SET the "
		"device is in the new state", false, check_arcs },
	[CK_PATHS] = { "paths", "every combination transition ends in the target state",
		"vfio.h: other transitions are combinations of arcs along "
		"vfio_mig_get_next_state()'s shortest path, ending in the target", false, check_paths },
	[CK_REFUSED] = { "refused", "states the flags rule out are refused with EINVAL",
		"vfio.h: optional states cannot be set without their flag; ERROR cannot be set; "
		"vfio_mig_get_next_state() returns -EINVAL", false, check_refused },
	[CK_GET_AFTER_FAIL] = { "get_after_fail", "GET after a failed SET tells where the device is",
		"vfio.h: after a failed SET the device is in the original state or one along the "
		"path; GET reports it (the SET echoes the requested state)", false,
		check_get_after_fail },
	[CK_FD_ARCS] = { "fd_arcs", "a new data fd exactly on the four session arcs",
		"vfio.h: RUNNING->PRE_COPY, RUNNING_P2P->PRE_COPY_P2P, STOP->STOP_COPY and "
		"STOP->RESUMING return a new data_fd; every other SET returns -1", false,
		check_fd_arcs },
	[CK_PRECOPY_SAME_FD] = { "precopy_same_fd", "PRE_COPY -> STOP_COPY keeps the same data fd",
		"vfio.h: the saving group shares one data transfer session; moving between its "
		"states does not affect the fd", false, check_precopy_same_fd },
	[CK_PRECOPY_INFO] = { "precopy_info", "PRECOPY_INFO: answers in PRE_COPY, initial_bytes "
		"falls as data is read, EINVAL in STOP_COPY",
		"vfio.h VFIO_MIG_GET_PRECOPY_INFO: mandatory with PRE_COPY; initial_bytes decreases "
		"as data is read; -EINVAL outside the PRE_COPY states", false, check_precopy_info },
	[CK_PRECOPY_END] = { "precopy_end", "PRE_COPY's temporary end of stream is ENOMSG",
		"vfio.h VFIO_MIG_GET_PRECOPY_INFO: read() at pre-copy's temporary end of stream "
		"should fail with ENOMSG", false, check_precopy_end },
	[CK_STOPCOPY_END] = { "stopcopy_end", "STOP_COPY's end of stream is read() = 0, never ENOMSG",
		"vfio.h: in STOP_COPY end of stream is read() returning 0; ENOMSG may not be "
		"returned in STOP_COPY", false, check_stopcopy_end },
	[CK_FD_INVALIDATED] = { "fd_invalidated", "leaving the saving states ends the data fd",
		"vfio.h: STOP_COPY->STOP and PRE_COPY->RUNNING terminate the data transfer "
		"session", false, check_fd_invalidated },
	[CK_SIZE_ESTIMATE] = { "size_estimate", "MIG_DATA_SIZE's estimate against the bytes "
		"STOP_COPY gives",
		"vfio.h VFIO_DEVICE_FEATURE_MIG_DATA_SIZE: the estimated data length required to "
		"complete stop copy", false, check_size_estimate },
	[CK_ROUNDTRIP] = { "roundtrip", "saved, restored and saved again, the state is identical",
		"vfio.h: STOP->RESUMING returns a data fd taking a compatible device's saved "
		"stream; RESUMING->STOP incorporates it", true, check_roundtrip },
	[CK_RECOVERY] = { "recovery", "a short resume is refused; VFIO_DEVICE_RESET returns RUNNING",
		"vfio.h: incomplete resume data must fail RESUMING->STOP; RESUMING is aborted, and "
		"ERROR left, by VFIO_DEVICE_RESET, which returns RUNNING", true, check_recovery },
	[CK_DATA_SIZE] = { "data_size", "MIG_DATA_SIZE answers in every state",
		"vfio.h VFIO_DEVICE_FEATURE_MIG_DATA_SIZE: can be called on each device state",
		false, check_data_size },
	[CK_PRECOPY_INFO_V2] = { "precopy_info_v2", "PRECOPY_INFOv2: the opt-in SET works and "
		"PRECOPY_INFO then reports defined flags only",
		"vfio.h VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2 (Linux 7.1): on SET, "
		"vfio_precopy_info.flags becomes a valid output field; REINIT (bit 0) says new "
		"initial data is present", false, check_precopy_info_v2 },
	[CK_DMA_LOG_START] = { "dma_log_start", "DMA_LOGGING_START takes page-size hints and "
		"answers the page size chosen, a power of two",
		"vfio.h DMA_LOGGING_START: page_size hints the tracking granularity; on output "
		"the device returns the page size it selected", false, check_dma_log_start },
	[CK_DMA_LOG_RANGES] = { "dma_log_ranges", "START refuses no range, too many, unaligned, "
		"wrapping and overlapping ranges; takes a page of ranges",
		"vfio.h and vfio_main.c: num_ranges 0 and unaligned or overlapping ranges are "
		"EINVAL, more than fit in a kernel page E2BIG, a range past 2^64 EOVERFLOW; a "
		"page's worth of ranges is guaranteed", false, check_dma_log_ranges },
	[CK_DMA_LOG_ONCE] = { "dma_log_once", "a second START before STOP is refused",
		"vfio.h DMA_LOGGING_START: a single start can be issued and a matching stop "
		"should follow; another start is not allowed in the meantime", false,
		check_dma_log_once },
	[CK_DMA_LOG_REPORT] = { "dma_log_report", "DMA_LOGGING_REPORT refuses bad page sizes "
		"and wrapping ranges; a report only sets bits, within its bitmap",
		"vfio.h DMA_LOGGING_REPORT: page_size any power of two (the core: at least 4 KiB, "
		"else EINVAL; a range past 2^64 EOVERFLOW); one bit per page_size; it only sets "
		"bits, never clears", false, check_dma_log_report },
	[CK_DMA_LOG_INACTIVE] = { "dma_log_inactive", "a REPORT before START and after STOP "
		"is refused",
		"vfio.h DMA_LOGGING_REPORT: if DMA logging is not enabled, an error will be "
		"returned", false, check_dma_log_inactive },
	[CK_DMA_LOG_STOP] = { "dma_log_stop", "DMA_LOGGING_STOP ends the logging START began",
		"vfio.h DMA_LOGGING_STOP: stops device DMA logging that was started by "
		"DMA_LOGGING_START", false, check_dma_log_stop },
};

int check_find(const char *name)
{
	for (int i = 0; i < CK_NR_CHECKS; i++)
		if (strcmp(check_table[i].name, name) == 0)
			return i;
	return -1;
}
