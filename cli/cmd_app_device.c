/* ocimirror app match / app device: Margo devices.
 *
 *   app match --device FILE|NAME [REF]
 *        each deployment profile of REF ([store:]REPO[:TAG]; none: every
 *        package in the store, its highest version) against the device:
 *        a manifest file (YAML or JSON) or a device added to the store;
 *        every reason a profile does not fit, one line each. Exit 1 when
 *        REF was given and none of its profiles fits.
 *   app device add FILE [--name N]   keep the device (name: N, else its
 *                                    properties.id)
 *   app device ls | app device rm NAME
 *
 * A device file that is no DeviceCapabilitiesManifest is exit 2, with
 * one line naming what is wrong. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cmd_app_device.h"
#include "mirror/margo/catalog.h"
#include "mirror/margo/device.h"
#include "mirror/margo/match.h"
#include "mirror/store/device.h"
#include "oci/ref.h"

static int read_device_file(char **out, size_t *len_out, const char *path,
			    struct err *err)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	*out = NULL;
	if (!f)
		return err_set(err, errno == ENOENT ? ERR_NOT_FOUND : ERR_FAIL,
			       "%s: %s", path, strerror(errno));
	buf = malloc(MARGO_DEVICE_INPUT_MAX + 1);
	if (!buf) {
		fclose(f);
		return err_set(err, ERR_FAIL, "out of memory");
	}
	n = fread(buf, 1, MARGO_DEVICE_INPUT_MAX + 1, f);
	if (ferror(f)) {
		fclose(f);
		free(buf);
		return err_set(err, ERR_FAIL, "read %s: %s", path,
			       strerror(errno));
	}
	fclose(f);
	if (n > MARGO_DEVICE_INPUT_MAX) {
		free(buf);
		return err_set(err, ERR_TOO_LARGE,
			       "%s: device manifest larger than %d bytes", path,
			       MARGO_DEVICE_INPUT_MAX);
	}
	buf[n] = '\0';
	*out = buf;
	*len_out = n;
	return 0;
}

/* FILE or NAME: a path that exists is a file, else a stored device. The
 * exit code on failure, else -1 with *name_out the stored name or NULL. */
static int device_resolve(struct margo_device *d, const char **name_out,
			  struct cli *cli, const char *arg)
{
	struct store st;
	struct stat sb;
	struct err err;
	char *text = NULL;
	size_t len = 0;
	int rc;

	err_clear(&err);
	*name_out = NULL;
	memset(d, 0, sizeof(*d));
	if (!stat(arg, &sb) || strchr(arg, '/') ||
	    !store_device_name_valid(arg)) {
		rc = read_device_file(&text, &len, arg, &err);
		if (!rc)
			rc = margo_device_parse(d, NULL, text, len, arg, &err);
		free(text);
		return rc ? cli_config_fail(cli, &err) : -1;
	}
	rc = store_open(&st, cli->store_dir, 0, &err);
	if (rc == ERR_NOT_FOUND)
		rc = err_set(&err, ERR_NOT_FOUND,
			     "device %s: no such file, and no store", arg);
	if (!rc) {
		rc = margo_device_load(d, &st, arg, &err);
		store_close(&st);
		if (rc == ERR_NOT_FOUND)
			err_set(&err, ERR_NOT_FOUND,
				"device %s: no such file, and no device of "
				"that name in the store (app device ls)",
				arg);
	}
	if (rc)
		return cli_config_fail(cli, &err);
	*name_out = arg;
	return -1;
}

static void print_match(const json_t *m)
{
	const json_t *ps = json_object_get(m, "profiles"), *p;
	size_t i;

	printf("%s:%s\n", json_string_value(json_object_get(m, "repository")),
	       json_string_value(json_object_get(m, "tag")) ?: "?");
	if (!json_array_size(ps))
		printf("  no deployment profiles\n");
	for (i = 0; i < json_array_size(ps) && (p = json_array_get(ps, i));
	     i++) {
		const json_t *rs = json_object_get(p, "reasons"), *r;
		size_t k;

		printf("  %s (%s): %s\n",
		       json_string_value(json_object_get(p, "id")) ?: "-",
		       json_string_value(json_object_get(p, "type")) ?: "-",
		       json_is_true(json_object_get(p, "fits"))
			   ? "fits"
			   : "does not fit");
		for (k = 0;
		     k < json_array_size(rs) && (r = json_array_get(rs, k));
		     k++)
			printf("    %s\n", json_string_value(r));
	}
}

static int any_fits(const json_t *m)
{
	const json_t *p;
	size_t i;

	json_array_foreach (json_object_get(m, "profiles"), i, p)
		if (json_is_true(json_object_get(p, "fits")))
			return 1;
	return 0;
}

static int match_one(struct cli *cli, const struct store *st, const char *repo,
		     const char *tag, const struct margo_device *d,
		     const char *name, int *fits_out)
{
	struct err err;
	json_t *m = NULL;
	int rc;

	err_clear(&err);
	rc = margo_match_stored(&m, st, repo, tag, d, name, &err);
	if (rc) {
		fprintf(stderr, "ocimirror: %s\n", err.msg);
		if (cli->json)
			cli_json_event(json_pack("{s:s,s:s,s:s}", "event",
						 "error", "repository", repo,
						 "message", err.msg));
		return rc;
	}
	*fits_out = any_fits(m);
	if (cli->json)
		cli_json_event(m);
	else {
		print_match(m);
		json_decref(m);
	}
	return 0;
}

int app_match(int argc, char **argv, struct cli *cli)
{
	static const struct option opts[] = {
	    {"device", required_argument, NULL, 'd'},
	    {"json", no_argument, NULL, 'j'},
	    {NULL, 0, NULL, 0},
	};
	static const char usage[] = "usage: ocimirror app match --device "
				    "FILE|NAME [[store:]REPO[:TAG]]";
	const char *dev_arg = NULL, *name;
	char repo[OCI_REPO_MAX], tag[OCI_TAG_MAX + 1] = "";
	struct margo_device d;
	struct store st;
	struct err err;
	size_t failed = 0;
	int ch, rc, fits = 0;

	while ((ch = getopt_long(argc, argv, ":d:", opts, NULL)) != -1) {
		if (ch == 'd')
			dev_arg = optarg;
		else if (ch == 'j')
			cli->json = 1;
		else
			return cli_bad_option(cli, "app match", ch, argv, opts);
	}
	if (!dev_arg || argc - optind > 1)
		return cli_usage(cli, "%s", usage);
	err_clear(&err);
	if (optind < argc &&
	    margo_catalog_ref_parse(repo, tag, argv[optind], &err))
		return cli_usage(cli, "app match: %s", err.msg);
	if ((rc = device_resolve(&d, &name, cli, dev_arg)) >= 0)
		return rc;
	rc = store_open(&st, cli->store_dir, 0, &err);
	if (rc == ERR_NOT_FOUND && optind == argc) {
		margo_device_release(&d);
		return EXIT_OK; /* no store, no packages */
	}
	if (rc) {
		margo_device_release(&d);
		return cli_fail(cli, &err);
	}
	if (optind < argc) {
		rc = match_one(cli, &st, repo, tag[0] ? tag : NULL, &d, name,
			       &fits);
		store_close(&st);
		margo_device_release(&d);
		if (rc)
			return cli_exit_code(rc, 0);
		return fits ? EXIT_OK : EXIT_FAILED;
	} else {
		json_t *apps = margo_catalog(&st, &err), *a;
		size_t i;

		if (!apps) {
			store_close(&st);
			margo_device_release(&d);
			return cli_fail(cli, &err);
		}
		for (i = 0;
		     i < json_array_size(apps) && (a = json_array_get(apps, i));
		     i++)
			if (match_one(
				cli, &st,
				json_string_value(
				    json_object_get(a, "repository")),
				json_string_value(json_object_get(a, "tag")),
				&d, name, &fits))
				failed++;
		json_decref(apps);
	}
	store_close(&st);
	margo_device_release(&d);
	return cli_exit_code(0, failed);
}

static int device_add(int argc, char **argv, struct cli *cli)
{
	static const struct option opts[] = {
	    {"name", required_argument, NULL, 'n'},
	    {"json", no_argument, NULL, 'j'},
	    {NULL, 0, NULL, 0},
	};
	const char *name = NULL;
	struct margo_device d;
	struct store st;
	struct err err;
	char *text = NULL, *json;
	size_t len = 0;
	json_t *m;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, ":n:", opts, NULL)) != -1) {
		if (ch == 'n')
			name = optarg;
		else if (ch == 'j')
			cli->json = 1;
		else
			return cli_bad_option(cli, "app device add", ch, argv,
					      opts);
	}
	if (argc - optind != 1)
		return cli_usage(cli, "usage: ocimirror app device add FILE "
				      "[--name NAME]");
	err_clear(&err);
	rc = read_device_file(&text, &len, argv[optind], &err);
	if (!rc)
		rc =
		    margo_device_parse(&d, NULL, text, len, argv[optind], &err);
	free(text);
	if (rc)
		return cli_config_fail(cli, &err);
	if (!name)
		name = d.id;
	if (!store_device_name_valid(name)) {
		rc = cli_usage(cli,
			       "app device add: \"%.140s\" is no device name "
			       "(letters, digits, '.', '_', '-'); give --name",
			       name);
		margo_device_release(&d);
		return rc;
	}
	m = margo_device_json(&d);
	json = m ? json_dumps(m, JSON_INDENT(2)) : NULL;
	json_decref(m);
	rc = json ? cli_store_open(cli, &st, 1, 0, &err)
		  : err_set(&err, ERR_FAIL, "out of memory");
	if (!rc) {
		rc = store_device_put(&st, name, json, &err);
		store_close(&st);
	}
	free(json);
	if (rc) {
		margo_device_release(&d);
		return cli_fail(cli, &err);
	}
	if (cli->json)
		cli_json_event(margo_device_summary(&d, name));
	else if (cli->verbosity >= 0)
		printf("added device %s (%s)\n", name, d.id);
	margo_device_release(&d);
	return EXIT_OK;
}

static int device_ls(int argc, char **argv, struct cli *cli)
{
	char **names = NULL;
	size_t n = 0, failed = 0;
	struct store st;
	struct err err;
	int rc;

	if ((rc = cli_no_options(cli, "app device ls", &argc, argv)))
		return rc;
	if (argc != 1)
		return cli_usage(cli, "usage: ocimirror app device ls");
	err_clear(&err);
	rc = store_open(&st, cli->store_dir, 0, &err);
	if (rc == ERR_NOT_FOUND)
		return EXIT_OK;
	if (!rc)
		rc = store_device_list(&names, &n, &st, &err);
	if (rc) {
		store_close(&st);
		return cli_fail(cli, &err);
	}
	for (size_t i = 0; i < n; i++) {
		struct margo_device d;
		json_t *j;

		if (margo_device_load(&d, &st, names[i], &err)) {
			fprintf(stderr, "ocimirror: %s\n", err.msg);
			failed++;
			continue;
		}
		j = margo_device_summary(&d, names[i]);
		if (cli->json) {
			cli_json_event(j);
		} else {
			printf("%s\t%s\t", names[i], d.id);
			for (size_t k = 0; k < d.n_architectures; k++) {
				char a[64];

				margo_arch_canonical(a, sizeof(a),
						     d.architectures[k]);
				printf("%s%s", k ? "," : "", a);
			}
			printf("\t%g\t%s\t%s\n", d.cores, d.memory, d.storage);
			json_decref(j);
		}
		margo_device_release(&d);
	}
	store_device_names_free(names, n);
	store_close(&st);
	return cli_exit_code(0, failed);
}

static int device_rm(int argc, char **argv, struct cli *cli)
{
	struct store st;
	struct err err;
	int rc;

	if ((rc = cli_no_options(cli, "app device rm", &argc, argv)))
		return rc;
	if (argc != 2)
		return cli_usage(cli, "usage: ocimirror app device rm NAME");
	err_clear(&err);
	if (!store_device_name_valid(argv[1]))
		return cli_usage(cli,
				 "app device rm: invalid device name "
				 "\"%.140s\"",
				 argv[1]);
	rc = store_open(&st, cli->store_dir, 0, &err);
	if (rc == ERR_NOT_FOUND)
		rc = err_set(&err, ERR_NOT_FOUND,
			     "device %s is not in the store", argv[1]);
	else if (!rc) {
		rc = store_device_delete(&st, argv[1], &err);
		store_close(&st);
	}
	if (rc)
		return cli_fail(cli, &err);
	if (!cli->json && cli->verbosity >= 0)
		printf("removed device %s\n", argv[1]);
	return EXIT_OK;
}

int app_device(int argc, char **argv, struct cli *cli)
{
	static const char usage[] =
	    "usage: ocimirror app device add FILE [--name NAME] | ls | rm NAME";

	if (argc < 2)
		return cli_usage(cli, "%s", usage);
	optind = 0;
	if (!strcmp(argv[1], "add"))
		return device_add(argc - 1, argv + 1, cli);
	if (!strcmp(argv[1], "ls"))
		return device_ls(argc - 1, argv + 1, cli);
	if (!strcmp(argv[1], "rm"))
		return device_rm(argc - 1, argv + 1, cli);
	return cli_usage(cli, "app device: unknown subcommand \"%.100s\" (%s)",
			 argv[1], usage + 7);
}
