/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The engine's events: every device state change (the device layer's observer) and
 * every phase of a run, handed as they happen to whoever set the events (the CLI's
 * --events), which owns their format and their fd. */
#include <stddef.h>

#include "engine.h"

static eng_event_fn *events_to;
static void *events_ctx;

static const char *const phase_names[] = {
	[ENG_PHASE_HANDSHAKE] = "handshake",
	[ENG_PHASE_READY] = "ready",
	[ENG_PHASE_PRECOPY] = "pre-copy",
	[ENG_PHASE_PRECOPY_ROUND] = "pre-copy-round",
	[ENG_PHASE_SYNC] = "sync",
	[ENG_PHASE_SWITCHOVER] = "switchover",
	[ENG_PHASE_STOPCOPY] = "stop-copy",
	[ENG_PHASE_LOADED] = "loaded",
	[ENG_PHASE_RUN] = "run",
	[ENG_PHASE_COMMIT] = "commit",
	[ENG_PHASE_ROLLBACK] = "rollback",
	[ENG_PHASE_LEFT_STOPPED] = "left-stopped",
	[ENG_PHASE_REHEARSAL] = "rehearsal",
	[ENG_PHASE_HEADER] = "header",
};

const char *eng_phase_name(enum eng_phase phase)
{
	if ((unsigned)phase < sizeof(phase_names) / sizeof(phase_names[0]) && phase_names[phase])
		return phase_names[phase];
	return "unknown";
}

static void state_changed(void *ctx, const struct vdev *dev, enum vmig_state from,
			  enum vmig_state to)
{
	struct eng_event ev = {
		.kind = ENG_EVENT_STATE, .device = vdev_ident(dev)->name, .from = from, .to = to,
	};

	eng_emit(&ev);
}

void eng_set_events(eng_event_fn *fn, void *ctx)
{
	events_to = fn;
	events_ctx = ctx;
	vdev_observe_states(fn ? state_changed : NULL, NULL);
}

void eng_emit(const struct eng_event *ev)
{
	if (events_to)
		events_to(events_ctx, ev);
}

void eng_emit_phase(enum eng_phase phase, const char *device, const char *text)
{
	struct eng_event ev = { .kind = ENG_EVENT_PHASE, .phase = phase, .device = device,
				.text = text };

	eng_emit(&ev);
}
