/*
 * main.c - the dkimrot command line: global options, then one command.
 *
 *   dkimrot [-c FILE] [-v | -q] COMMAND [OPTIONS] [DOMAIN ...]
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "rotator.h"

static void usage(FILE *f)
{
	fputs("usage: dkimrot [-c FILE] [-v | -q] COMMAND [OPTIONS] [DOMAIN ...]\n"
	      "\n"
	      "  plan    [--at TIME] [--json]         what would happen, to which key, and when\n"
	      "  status  [--json] [--dns]             every key, its state and next event\n"
	      "  rotate  [--no-wait] [--timeout DUR]  rotate now, until the new key signs\n"
	      "  daemon  [--foreground]               run the schedule until SIGTERM\n"
	      "  check                                validate the configuration and system\n"
	      "\n"
	      "The configuration is -c FILE, else $DKIMROT_CONFIG, else "
	      CONF_DEFAULT_PATH ".\n",
	      f);
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(int, char **, const char *);
	} commands[] = {
		{ "plan", cmd_plan },	  { "status", cmd_status }, { "rotate", cmd_rotate },
		{ "daemon", cmd_daemon }, { "check", cmd_check },
	};
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *conf_cli = NULL;
	enum log_level level = LOG_LVL_INFO;
	int opt;

	/* Key files and the database are private unless we say otherwise. */
	umask(077);

	while ((opt = getopt_long(argc, argv, "+c:vqh", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			conf_cli = optarg;
			break;
		case 'v':
			level = LOG_LVL_DEBUG;
			break;
		case 'q':
			level = LOG_LVL_WARNING;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	log_init("dkimrot", false, level);

	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[optind], commands[i].name) != 0)
			continue;

		/* Each command parses its own options from its own argv. */
		char **sub = argv + optind;
		int subc = argc - optind;

		optind = 1;
		return commands[i].run(subc, sub, conf_path_choose(conf_cli));
	}

	fprintf(stderr, "dkimrot: unknown command \"%s\"\n", argv[optind]);
	usage(stderr);
	return EXIT_USAGE;
}
