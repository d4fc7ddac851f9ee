/* ocimirror serve: the store as an OCI distribution registry. */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/parse.h"
#include "mirror/serve/serve.h"
#include "mirror/sync/syncconf.h"
#include "mirror/upstream/upstream.h"

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;

static void access_log(void *ctx, const char *line)
{
	struct cli *cli = ctx;
	char ts[32];
	time_t now = time(NULL);
	struct tm tm;

	if (cli->verbosity < 0)
		return;
	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	pthread_mutex_lock(&log_mu);
	fprintf(stderr, "%s %s\n", ts, line);
	pthread_mutex_unlock(&log_mu);
}

/* The server's connection and upload caps follow the descriptor limit
 * (serve_limits_derive): take the whole hard limit, not the soft 1024. */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int cmd_serve(int argc, char **argv, struct cli *cli)
{
	static const struct option opts[] = {
	    {"listen", required_argument, NULL, 'l'},
	    {"tls-cert", required_argument, NULL, 'c'},
	    {"tls-key", required_argument, NULL, 'k'},
	    {"htpasswd", required_argument, NULL, 'h'},
	    {"anonymous-read", no_argument, NULL, 'a'},
	    {"push", no_argument, NULL, 'p'},
	    {"read-only", no_argument, NULL, 'r'},
	    {"delete", no_argument, NULL, 'd'},
	    {"threads", required_argument, NULL, 't'},
	    {"read-timeout", required_argument, NULL, 'T'},
	    {"max-conns-per-ip", required_argument, NULL, 'I'},
	    {"upstream", required_argument, NULL, 'u'},
	    {"tag-ttl", required_argument, NULL, 'L'},
	    {"redirect", no_argument, NULL, 'R'},
	    {NULL, 0, NULL, 0},
	};
	static const char *usage =
	    "usage: ocimirror serve [--listen ADDR] [--tls-cert F --tls-key F] "
	    "[--htpasswd F] [--anonymous-read] [--push] [--delete] "
	    "[--read-only] [--threads N] [--read-timeout SECONDS] "
	    "[--max-conns-per-ip N] [--upstream FILE [--tag-ttl SECONDS]] "
	    "[--redirect]";
	struct serve_options o;
	struct upstream_options uo;
	struct upstream *up = NULL;
	struct sync_config cfg;
	const char *upstream_file = NULL;
	int64_t tag_ttl = -1;
	struct server *srv = NULL;
	struct store st;
	struct err err;
	sigset_t set;
	int64_t threads, v;
	int ch, sig = 0;

	err_clear(&err);
	memset(&cfg, 0, sizeof(cfg));
	serve_options_init(&o);
	while ((ch = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (ch) {
		case 'l': o.listen = optarg; break;
		case 'c': o.tls_cert = optarg; break;
		case 'k': o.tls_key = optarg; break;
		case 'h': o.htpasswd = optarg; break;
		case 'a': o.anonymous_read = 1; break;
		case 'p': o.push = 1; break;
		case 'r': o.read_only = 1; break;
		case 'd': o.delete = 1; break;
		case 'R': o.redirect = 1; break;
		case 't':
			if (cli_parse_int(&threads, "--threads", optarg, 1,
					  1024, &err))
				return cli_usage(cli, "serve: %s", err.msg);
			o.threads = (unsigned)threads;
			break;
		case 'T':
			if (cli_parse_int(&v, "--read-timeout", optarg, 0,
					  86400, &err))
				return cli_usage(cli, "serve: %s", err.msg);
			o.read_timeout = (unsigned)v;
			break;
		case 'I':
			if (cli_parse_int(&v, "--max-conns-per-ip", optarg, 0,
					  1000000, &err))
				return cli_usage(cli, "serve: %s", err.msg);
			o.max_conns_per_ip = (unsigned)v;
			break;
		case 'u': upstream_file = optarg; break;
		case 'L':
			if (cli_parse_int(&tag_ttl, "--tag-ttl", optarg, 1,
					  31536000, &err))
				return cli_usage(cli, "serve: %s", err.msg);
			break;
		default: return cli_bad_option(cli, "serve", ch, argv, opts);
		}
	}
	if (optind != argc)
		return cli_usage(cli, "%s", usage);
	if (serve_options_check(&o, &err))
		return cli_usage(cli, "serve: %s", err.msg);
	if (tag_ttl >= 0 && !upstream_file)
		return cli_usage(cli, "serve: --tag-ttl needs --upstream");
	/* the upstream file is checked whole before anything starts */
	if (upstream_file &&
	    (syncconf_load_registries(&cfg, upstream_file, &err) ||
	     syncconf_check_files(&cfg, &err))) {
		syncconf_release(&cfg);
		return cli_config_fail(cli, &err);
	}
	if (upstream_file && !cfg.n_registries) {
		syncconf_release(&cfg);
		return cli_usage(cli, "serve: %s: no registries: block",
				 upstream_file);
	}
	o.access_log = access_log;
	o.log_ctx = cli;
	if (store_open(&st, cli->store_dir, 1, &err)) {
		syncconf_release(&cfg);
		return cli_fail(cli, &err);
	}
	/* --redirect on a store without direct URLs: a usage error */
	if (serve_options_check_store(&o, &st, &err)) {
		store_close(&st);
		syncconf_release(&cfg);
		return cli_usage(cli, "serve: %s", err.msg);
	}
	if (upstream_file) {
		upstream_options_init(&uo);
		if (cfg.tag_ttl > 0)
			uo.tag_ttl = (unsigned)cfg.tag_ttl;
		if (tag_ttl > 0)
			uo.tag_ttl = (unsigned)tag_ttl;
		if (cfg.upstream_timeout > 0)
			uo.timeout = (unsigned)cfg.upstream_timeout;
		/* every upstream request is a line of the access log */
		uo.log = access_log;
		uo.log_ctx = cli;
		if (upstream_start(&up, &st, &cfg, &cli->reg, &uo, &err)) {
			store_close(&st);
			syncconf_release(&cfg);
			return cli_config_fail(cli, &err);
		}
		o.upstream = upstream_iface(up);
	}
	/* the server's threads inherit this mask; signals come to sigwait */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	if (serve_start(&srv, &st, &o, &err)) {
		upstream_stop(up);
		store_close(&st);
		syncconf_release(&cfg);
		err_wrap(&err, "serve: ");
		return cli_fail(cli, &err);
	}
	if (cli->verbosity >= 0)
		fprintf(
		    stderr,
		    "ocimirror: serving %s on %s://%s (port %u)%s%s%s%s%s\n",
		    cli->store_dir, o.tls_cert ? "https" : "http", o.listen,
		    serve_port(srv), o.push ? ", push enabled" : "",
		    o.read_only ? ", read-only" : "",
		    o.redirect ? ", redirecting large blobs" : "",
		    up ? ", filling from " : "", up ? upstream_file : "");
	while (sigwait(&set, &sig) == 0 && sig == SIGHUP)
		;
	if (cli->verbosity >= 0)
		fprintf(stderr,
			"ocimirror: signal %d, finishing requests in flight\n",
			sig);
	serve_stop(srv);
	upstream_stop(up);
	store_close(&st);
	syncconf_release(&cfg);
	return EXIT_OK;
}
