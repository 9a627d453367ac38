/* vfiomig: global options and the subcommand table. */
#include <argp.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cli_events.h"
#include "device/pci_names.h"

const char *argp_program_version = "vfiomig " VFIOMIG_VERSION;
const char *argp_program_bug_address = "the vfiomig issue tracker";

static const struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
} commands[] = {
	{ "list", cmd_list, "list the VFIO devices on this host and their migration support" },
	{ "info", cmd_info, "show a device's identity, migration flags, states, arcs and state" },
	{ "state", cmd_state, "print or set a device's migration state" },
	{ "check", cmd_check, "check that a device's migration driver follows the uAPI" },
	{ "save", cmd_save, "save a device's migration state as a stream" },
	{ "restore", cmd_restore, "restore a saved stream into a device" },
	{ "migrate", cmd_migrate, "live-migrate devices to a 'vfiomig receive' peer" },
	{ "receive", cmd_receive, "receive a live migration into devices" },
	{ "inspect", cmd_inspect, "show a saved stream's header, records and totals" },
	{ "verify", cmd_verify, "check that a saved stream is intact and complete" },
};

static const char doc[] =
	"Drive the migration state machine of Linux VFIO devices and move their state."
	"\v'vfiomig COMMAND --help' describes a command. Exit status: 0 ok, 1 failed, "
	"2 usage, 3 device unavailable, 4 not supported, 5 data integrity, "
	"6 peer refused, 7 interrupted (see vfiomig(1)).";

static const struct argp_child children[] = {
	{ &cli_common_argp, 0, "Options for every command:", 0 },
	{ 0 }
};

static error_t parse_global(int key, char *arg, struct argp_state *state)
{
	int *command_index = state->input;

	if (key == ARGP_KEY_ARG) {
		*command_index = state->next - 1;
		state->next = state->argc;      /* the command parses the rest */
		return 0;
	}
	if (key == ARGP_KEY_NO_ARGS)
		argp_error(state, "no command given");
	return ARGP_ERR_UNKNOWN;
	(void)arg;
}

/* The command list in --help comes from the table above. */
static char *help_filter(int key, const char *text, void *input)
{
	char *out = NULL;
	size_t size = 0;
	FILE *f;

	if (key != ARGP_KEY_HELP_POST_DOC || !text)
		return (char *)text;
	f = open_memstream(&out, &size);
	if (!f)
		return (char *)text;
	fputs("Commands:\n", f);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n%s", text);
	fclose(f);
	return out;
	(void)input;
}

static const struct argp global_argp = { NULL, parse_global, "COMMAND [ARGS...]", doc,
					 children, help_filter, NULL };

int main(int argc, char **argv)
{
	int command_index = 0, ret;

	argp_err_exit_status = EXIT_USAGE;
	argp_parse(&global_argp, argc, argv, ARGP_IN_ORDER, NULL, &command_index);

	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[command_index], commands[i].name) != 0)
			continue;
		char program[64];

		/* argp names the program after argv[0]: make it "vfiomig state". */
		snprintf(program, sizeof(program), "vfiomig %s", commands[i].name);
		argv[command_index] = program;
		cli_install_signals();
		cli_protect_memory();
		cli_route_engine_log();
		ret = commands[i].run(argc - command_index, argv + command_index);
		cli_events_close(ret);
		pci_names_release();
		return ret;
	}
	return cli_usage_error("unknown command '%s'", argv[command_index]);
}
