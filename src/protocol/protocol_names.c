/* Names of the protocol's reason codes, roles, verdicts and phases, from one table
 * each, for messages and JSON. Message type names live with the type table. */
#include <stdarg.h>
#include <stdio.h>

#include "protocol.h"

#define NAME_AT(table, i) ((i) < sizeof(table) / sizeof(table[0]) ? table[i] : NULL)

static const char *const reason_names[] = {
	[PROTO_REASON_NONE] = "unspecified",
	[PROTO_REASON_INTERRUPTED] = "interrupted",
	[PROTO_REASON_INCOMPATIBLE] = "incompatible",
	[PROTO_REASON_VERSION] = "version",
	[PROTO_REASON_DEVICE] = "device",
	[PROTO_REASON_DATA] = "data",
	[PROTO_REASON_PROTOCOL] = "protocol",
	[PROTO_REASON_TIMEOUT] = "timeout",
	[PROTO_REASON_LOCAL] = "local",
	[PROTO_REASON_REHEARSAL] = "rehearsal",
};

static const char *const role_names[] = {
	[PROTO_ROLE_SOURCE] = "source",
	[PROTO_ROLE_DESTINATION] = "destination",
};

static const char *const verdict_names[] = {
	[PROTO_VERDICT_ACCEPT] = "accept",
	[PROTO_VERDICT_REFUSE] = "refuse",
	[PROTO_VERDICT_FORCED] = "accept-forced",
};

static const char *const phase_names[] = {
	[PROTO_PHASE_HELLO] = "hello",
	[PROTO_PHASE_IDENTITY] = "identity",
	[PROTO_PHASE_VERDICT] = "verdict",
	[PROTO_PHASE_READY] = "ready",
	[PROTO_PHASE_TRANSFER] = "transfer",
	[PROTO_PHASE_LOADING] = "loading",
	[PROTO_PHASE_HANDOVER] = "handover",
	[PROTO_PHASE_COMMIT] = "commit",
	[PROTO_PHASE_COMMITTED] = "committed",
	[PROTO_PHASE_REFUSED] = "refused",
	[PROTO_PHASE_ABORTED] = "aborted",
};

const char *proto_reason_name(uint16_t code)
{
	return NAME_AT(reason_names, code);
}

const char *proto_role_name(unsigned role)
{
	return NAME_AT(role_names, role);
}

const char *proto_verdict_name(unsigned kind)
{
	return NAME_AT(verdict_names, kind);
}

const char *proto_phase_name(enum proto_phase phase)
{
	const char *name = NAME_AT(phase_names, (unsigned)phase);

	return name ? name : "?";
}

void proto_reason_set(struct proto_reason *reason, uint16_t code, const char *fmt, ...)
{
	va_list ap;

	reason->code = code;
	va_start(ap, fmt);
	vsnprintf(reason->text, sizeof(reason->text), fmt, ap);
	va_end(ap);
}
