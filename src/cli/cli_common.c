/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Options, messages, exit codes and signals shared by all subcommands. */
#include <errno.h>
#include <sys/prctl.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "base/clock.h"
#include "base/io.h"
#include "base/text.h"
#include "engine/engine.h"

struct cli_options cli = { .verbose = 0, .open_via = VDEV_VIA_AUTO };
vstop_t cli_signal;

enum { OPT_OPEN_VIA = 0x100 };

static const struct argp_option common_options[] = {
	{ "quiet", 'q', NULL, 0, "Print only data and errors", -1 },
	{ NULL, 'h', NULL, OPTION_HIDDEN, NULL, -1 },   /* -h as well as argp's -? */
	{ "verbose", 'v', NULL, 0, "Say more (repeat for more detail)", -1 },
	{ "open-via", OPT_OPEN_VIA, "cdev|group|auto", 0,
	  "Open devices through 'cdev' (iommufd), 'group' (container) or 'auto' (default)", -1 },
	{ 0 }
};

static error_t parse_common(int key, char *arg, struct argp_state *state)
{
	switch (key) {
	case 'h':
		argp_state_help(state, state->out_stream, ARGP_HELP_STD_HELP);
		return 0;
	case 'q':
		cli.verbose = -1;
		return 0;
	case 'v':
		cli.verbose = cli.verbose < 0 ? 1 : cli.verbose + 1;
		return 0;
	case OPT_OPEN_VIA:
		if (vdev_open_via_parse(arg, &cli.open_via) < 0)
			argp_error(state, "--open-via takes cdev, group or auto, not '%s'", arg);
		return 0;
	default:
		return ARGP_ERR_UNKNOWN;
	}
}

const struct argp cli_common_argp = { common_options, parse_common, NULL, NULL, NULL, NULL, NULL };

static void on_signal(int sig)
{
	cli_signal = sig;
}

void cli_install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	io_set_interrupt_flag(&cli_signal);
}

static char first_error[2048];

const char *cli_first_error(void)
{
	return first_error[0] ? first_error : NULL;
}

/*
 * Every message goes to stderr through here, as one line: a peer's text (an ABORT's
 * reason, its software, its identity and compatibility strings) may hold any byte but
 * NUL, and a terminal must not act on them (docs/protocol.md), so what is not
 * printable comes out as C escapes.
 */
static void put_message(const char *msg, const char *tail)
{
	char shown[sizeof(first_error) * TEXT_ESCAPE_GROWTH];

	text_escape(shown, sizeof(shown), msg);
	fprintf(stderr, "vfiomig: %s%s\n", shown, tail);
}

static void put_message_va(const char *tail, const char *fmt, va_list ap)
{
	char msg[sizeof(first_error)];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	put_message(msg, tail);
}

int cli_fail(const struct verr *err)
{
	static const int codes[] = {
		[VERR_FAILED] = EXIT_FAILED, [VERR_USAGE] = EXIT_USAGE,
		[VERR_UNAVAILABLE] = EXIT_UNAVAILABLE, [VERR_UNSUPPORTED] = EXIT_UNSUPPORTED,
		[VERR_DATA] = EXIT_DATA, [VERR_PEER] = EXIT_PEER,
		[VERR_INTERRUPTED] = EXIT_INTERRUPTED, [VERR_UNKNOWN] = EXIT_UNKNOWN,
	};
	char msg[sizeof(first_error)];

	verr_format(err, msg, sizeof(msg));
	put_message(msg, "");
	if (!first_error[0])
		text_escape(first_error, sizeof(first_error), msg);
	/* Whatever a signal broke on its way, the cause is the signal; but an unknown
	 * outcome stays unknown, whatever interrupted the wait for it. */
	if (cli_signal && err->class != VERR_UNKNOWN)
		return EXIT_INTERRUPTED;
	return (unsigned)err->class < sizeof(codes) / sizeof(codes[0]) ? codes[err->class]
								      : EXIT_FAILED;
}

int cli_usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	put_message_va(" (see 'vfiomig --help')", fmt, ap);
	va_end(ap);
	return EXIT_USAGE;
}

void cli_note(const char *fmt, ...)
{
	va_list ap;

	if (cli.verbose < 0)
		return;
	va_start(ap, fmt);
	put_message_va("", fmt, ap);
	va_end(ap);
}

void cli_debug(const char *fmt, ...)
{
	va_list ap;

	if (cli.verbose < 1)
		return;
	va_start(ap, fmt);
	put_message_va("", fmt, ap);
	va_end(ap);
}

/*
 * Every line of a report goes to stdout through here: its values (a driver's or a
 * device's name, a stream's identity, a check's reason) come from sysfs, a driver or a
 * stream file anyone can write, so what a terminal could act on is escaped as in
 * messages. A line that does not fit the buffer is formatted again on the heap.
 */
void cli_line(const char *fmt, ...)
{
	char small[1024], *line = small;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(small)) {
		line = malloc((size_t)n + 1);
		if (line) {
			va_start(ap, fmt);
			vsnprintf(line, (size_t)n + 1, fmt, ap);
			va_end(ap);
		} else {
			line = small;   /* out of memory: the line cut short rather than lost */
		}
	}
	text_put(stdout, line);
	putchar('\n');
	if (line != small)
		free(line);
}

static void note_line(const char *msg)
{
	cli_note("%s", msg);
}

static void debug_line(const char *msg)
{
	cli_debug("%s", msg);
}

void cli_route_engine_log(void)
{
	static const struct eng_log to_stderr = { note_line, debug_line };

	eng_set_log(&to_stderr);
}

void cli_protect_memory(void)
{
	/* Keys and device state may be anywhere in memory (OpenSSL's copies, pipeline
	 * buffers, the stack); one switch for the whole process covers them all. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		cli_debug("prctl(PR_SET_DUMPABLE, 0): %s; a core dump may hold keys or "
			  "device state", strerror(errno));
}

int cli_open_device(const char *name, struct vdev **dev)
{
	struct vdev_ident id;
	struct verr err = { 0 };

	*dev = NULL;
	if (vdev_identify(name, &id, &err) < 0)
		return cli_fail(&err);
	if (vdev_open(&id, cli.open_via, dev, &err) < 0)
		return cli_fail(&err);
	cli_debug("%s: opened via %s", id.name, vdev_open_via_name(vdev_opened_via(*dev)));
	return EXIT_OK;
}

int cli_parse_int(const char *text, long min, long max, long *value)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(text, &end, 10);
	if (errno || end == text || *end || v < min || v > max)
		return -EINVAL;
	*value = v;
	return 0;
}

error_t cli_parse_device_operand(int key, char *arg, struct argp_state *state,
				 const char **device)
{
	switch (key) {
	case ARGP_KEY_ARG:
		if (*device)
			argp_error(state, "give one DEVICE, not '%s' as well", arg);
		*device = arg;
		return 0;
	case ARGP_KEY_END:
		if (!*device)
			argp_error(state, "which DEVICE? (see 'vfiomig list')");
		return 0;
	default:
		return ARGP_ERR_UNKNOWN;
	}
}

int cli_recover_abandoned(struct vdev *dev, enum vmig_state *state, struct verr *err)
{
	return eng_recover_abandoned(dev, state, err);
}

double cli_seconds(const struct timespec *a, const struct timespec *b)
{
	return vclock_seconds(a, b);
}
