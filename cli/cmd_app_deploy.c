/* ocimirror app deploy REF --profile ID --device-id ID [--set NAME=VALUE
 * ...] [--values FILE] [--name N] [--namespace NS] -o FILE
 *
 * The Margo ApplicationDeployment for the package REF ([store:]REPO[:TAG]
 * in the store; no tag: the highest version) with the answers given:
 * --values FILE a YAML or JSON map PARAMETER: VALUE (a list for arrays
 * and multiselect), --set (after --values, wins) PARAMETER=VALUE, a list
 * written ["a","b"] or a,b. Defaults are the parameters' values. Every
 * invalid value is one line on stderr naming the setting and the rule,
 * exit 2. -o - writes to stdout. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "mirror/margo/catalog.h"
#include "mirror/margo/config.h"
#include "mirror/margo/deploy.h"
#include "mirror/margo/description.h"
#include "oci/ref.h"
#include "oci/yaml.h"

#define ANSWERS_MAX 1024
#define VALUES_FILE_MAX (1024 * 1024)

struct answers {
	struct margo_answer v[ANSWERS_MAX];
	char *names[ANSWERS_MAX];
	size_t n;
};

static void answers_release(struct answers *a)
{
	for (size_t i = 0; i < a->n; i++) {
		margo_value_release(&a->v[i].value);
		free(a->names[i]);
	}
	a->n = 0;
}

/* The slot for name (replacing an earlier answer), NULL when full. */
static struct margo_answer *answers_slot(struct answers *a, const char *name,
					 size_t len)
{
	for (size_t i = 0; i < a->n; i++)
		if (strlen(a->names[i]) == len &&
		    !strncmp(a->names[i], name, len)) {
			margo_value_release(&a->v[i].value);
			return &a->v[i];
		}
	if (a->n >= ANSWERS_MAX || !(a->names[a->n] = strndup(name, len)))
		return NULL;
	a->v[a->n].parameter = a->names[a->n];
	memset(&a->v[a->n].value, 0, sizeof(a->v[a->n].value));
	return &a->v[a->n++];
}

static int read_values(struct answers *a, const char *path, struct err *err)
{
	struct oci_yaml y;
	yaml_node_t *root;
	char *data;
	size_t len = 0;
	FILE *f = fopen(path, "rb");
	int rc = 0;

	if (!f)
		return err_set(err, ERR_NOT_FOUND, "--values %s: %m", path);
	data = malloc(VALUES_FILE_MAX + 1);
	if (!data) {
		fclose(f);
		return err_set(err, ERR_FAIL, "out of memory");
	}
	len = fread(data, 1, VALUES_FILE_MAX + 1, f);
	fclose(f);
	if (len > VALUES_FILE_MAX) {
		free(data);
		return err_set(err, ERR_TOO_LARGE, "--values %s: over %d bytes",
			       path, VALUES_FILE_MAX);
	}
	if ((rc = oci_yaml_load(&y, path, data, len, NULL, err))) {
		free(data);
		return rc;
	}
	root = oci_yaml_root(&y);
	if (root && root->type != YAML_MAPPING_NODE)
		rc = err_set(err, ERR_INVALID,
			     "--values %s: a map of parameter: value expected",
			     path);
	for (yaml_node_pair_t *p = root && !rc ? root->data.mapping.pairs.start
					       : NULL;
	     p && p < root->data.mapping.pairs.top && !rc; p++) {
		yaml_node_t *k = oci_yaml_node(&y, p->key);
		yaml_node_t *v = oci_yaml_node(&y, p->value);
		const char *ks = oci_yaml_scalar(k);
		struct margo_answer *ans;

		if (!ks || !v) {
			rc = err_set(err, ERR_INVALID,
				     "--values %s: keys must be parameter "
				     "names",
				     path);
			break;
		}
		if (!(ans = answers_slot(a, ks, strlen(ks)))) {
			rc = err_set(err, ERR_TOO_LARGE,
				     "--values %s: more than %d answers", path,
				     ANSWERS_MAX);
			break;
		}
		if (v->type == YAML_SCALAR_NODE) {
			if (!oci_yaml_is_null(v))
				rc = margo_value_scalar(
				    &ans->value, oci_yaml_scalar(v), err);
		} else if (v->type == YAML_SEQUENCE_NODE) {
			ans->value.is_list = 1;
			for (yaml_node_item_t *it =
				 v->data.sequence.items.start;
			     it < v->data.sequence.items.top && !rc; it++) {
				const char *s =
				    oci_yaml_scalar(oci_yaml_node(&y, *it));
				struct margo_value one;

				if (!s) {
					rc = err_set(err, ERR_INVALID,
						     "--values %s: %s: list "
						     "items must be scalars",
						     path, ks);
					break;
				}
				if ((rc = margo_value_scalar(&one, s, err)))
					break;
				/* move the item over */
				char **items = realloc(ans->value.items,
						       (ans->value.n + 1) *
							   sizeof(char *));
				if (!items) {
					margo_value_release(&one);
					rc = err_set(err, ERR_FAIL,
						     "out of memory");
					break;
				}
				ans->value.items = items;
				items[ans->value.n++] = one.items[0];
				free(one.items);
				if (ans->value.n > MARGO_VALUE_ITEMS_MAX)
					rc = err_set(err, ERR_TOO_LARGE,
						     "--values %s: %s: more "
						     "than %d items",
						     path, ks,
						     MARGO_VALUE_ITEMS_MAX);
			}
		} else
			rc = err_set(err, ERR_INVALID,
				     "--values %s: %s: a value or a list "
				     "expected, not a map",
				     path, ks);
	}
	oci_yaml_release(&y);
	free(data);
	return rc;
}

/* -o PATH: a fresh mkstemp file beside PATH (never following a link an
 * attacker placed at a guessable name), written, fsynced, renamed over
 * PATH, then the directory fsynced. Mode 0666 less the umask. */
static int write_out(const char *path, const char *text, size_t len,
		     struct err *err)
{
	char tmp[4096], dir[4096];
	const char *slash;
	mode_t mask;
	size_t off = 0;
	int fd, dfd;

	if (!strcmp(path, "-")) {
		if (fwrite(text, 1, len, stdout) != len || fflush(stdout))
			return err_set(err, ERR_FAIL, "stdout: %m");
		return 0;
	}
	slash = strrchr(path, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else if (snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path),
			  path) >= (int)sizeof(dir))
		return err_set(err, ERR_INVALID, "-o: path too long");
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >=
	    (int)sizeof(tmp))
		return err_set(err, ERR_INVALID, "-o: path too long");
	fd = mkstemp(tmp);
	if (fd < 0)
		return err_set(err, ERR_FAIL, "-o %s: %m", path);
	mask = umask(0);
	umask(mask);
	if (fchmod(fd, 0666 & ~mask))
		goto fail;
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		off += (size_t)n;
	}
	if (fsync(fd))
		goto fail;
	if (close(fd)) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path))
		goto fail;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		int rc = fsync(dfd);

		close(dfd);
		if (rc)
			return err_set(err, ERR_FAIL, "-o %s: fsync %s: %m",
				       path, dir);
	}
	return 0;
fail:
	err_set(err, ERR_FAIL, "-o %s: write failed: %m", path);
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return err->code;
}

int cmd_app_deploy(int argc, char **argv, struct cli *cli)
{
	static const struct option opts[] = {
	    {"profile", required_argument, NULL, 'p'},
	    {"device-id", required_argument, NULL, 'd'},
	    {"set", required_argument, NULL, 's'},
	    {"values", required_argument, NULL, 'v'},
	    {"name", required_argument, NULL, 'n'},
	    {"namespace", required_argument, NULL, 'N'},
	    {"output", required_argument, NULL, 'o'},
	    {NULL, 0, NULL, 0},
	};
	static const char usage[] =
	    "usage: ocimirror app deploy [store:]REPO[:TAG] --profile ID "
	    "--device-id ID [--set NAME=VALUE ...] [--values FILE] [--name N] "
	    "[--namespace NS] -o FILE";
	const char *profile = NULL, *device = NULL, *values = NULL,
		   *name = NULL, *ns = NULL, *out = NULL;
	const char **sets = calloc((size_t)argc + 1, sizeof(char *));
	size_t n_sets = 0;
	struct answers *ans = calloc(1, sizeof(*ans));
	struct margo_deploy_req req;
	struct margo_verrs errs;
	struct margo_config cfg;
	struct margo_app app;
	char repo[OCI_REPO_MAX], tag[OCI_TAG_MAX + 1] = "";
	struct store st;
	struct err err;
	char *text = NULL;
	size_t len = 0;
	int c, rc, have_app = 0;

	err_clear(&err);
	margo_verrs_init(&errs);
	if (!sets || !ans) {
		free(sets);
		free(ans);
		err_set(&err, ERR_FAIL, "out of memory");
		return cli_fail(cli, &err);
	}
	while ((c = getopt_long(argc, argv, ":o:", opts, NULL)) != -1) {
		switch (c) {
		case 'p': profile = optarg; break;
		case 'd': device = optarg; break;
		case 's': sets[n_sets++] = optarg; break;
		case 'v': values = optarg; break;
		case 'n': name = optarg; break;
		case 'N': ns = optarg; break;
		case 'o': out = optarg; break;
		default:
			free(sets);
			free(ans);
			return cli_bad_option(cli, "app deploy", c, argv, opts);
		}
	}
	if (optind != argc - 1 || !profile || !device || !out) {
		free(sets);
		free(ans);
		return cli_usage(cli, "%s", usage);
	}
	if (margo_catalog_ref_parse(repo, tag, argv[optind], &err)) {
		free(sets);
		free(ans);
		return cli_usage(cli, "app deploy: %s", err.msg);
	}
	rc = store_open(&st, cli->store_dir, 0, &err);
	if (!rc) {
		json_t *entry = NULL;

		rc = margo_catalog_get(&app, &entry, &st, repo,
				       tag[0] ? tag : NULL, &err);
		json_decref(entry);
		have_app = 1;
		store_close(&st);
	}
	if (rc)
		goto fail;
	if ((rc = margo_config_load(&cfg, &app, profile, &err))) {
		rc = rc == ERR_NOT_FOUND ? ERR_INVALID : rc;
		goto fail;
	}
	if (values && (rc = read_values(ans, values, &err)))
		goto fail_cfg;
	for (size_t i = 0; i < n_sets; i++) {
		const char *eq = strchr(sets[i], '=');
		const struct margo_config_setting *s;
		struct margo_answer *a;
		char pname[256];

		if (!eq || eq == sets[i] || (size_t)(eq - sets[i]) >= 256) {
			rc = err_set(&err, ERR_INVALID,
				     "--set %.100s: NAME=VALUE expected",
				     sets[i]);
			goto fail_cfg;
		}
		snprintf(pname, sizeof(pname), "%.*s", (int)(eq - sets[i]),
			 sets[i]);
		if (!(a = answers_slot(ans, pname, strlen(pname)))) {
			rc = err_set(&err, ERR_TOO_LARGE,
				     "more than %d answers", ANSWERS_MAX);
			goto fail_cfg;
		}
		s = margo_config_find(&cfg, pname);
		rc = s ? margo_value_from_text(&a->value, s, eq + 1, &err)
		       : margo_value_scalar(&a->value, eq + 1, &err);
		if (rc) {
			rc = err_set(&err, rc, "--set %s: %s", pname, err.msg);
			goto fail_cfg;
		}
	}
	memset(&req, 0, sizeof(req));
	req.profile = profile;
	req.device_id = device;
	req.name = name;
	req.ns = ns;
	req.answers = ans->v;
	req.n_answers = ans->n;
	rc = margo_deploy_build(&text, &len, &errs, &app, &req, &err);
	if (rc == ERR_INVALID && errs.n) {
		for (size_t i = 0; i < errs.n; i++) {
			char line[1024];

			margo_verr_format(line, sizeof(line), &errs.v[i]);
			fprintf(stderr, "ocimirror: app deploy: %s\n", line);
		}
		rc = EXIT_USAGE;
		goto done;
	}
	if (!rc)
		rc = write_out(out, text, len, &err);
fail_cfg:
	margo_config_release(&cfg);
fail:
	if (rc) {
		if (rc == ERR_INVALID) {
			fprintf(stderr, "ocimirror: app deploy: %s\n", err.msg);
			rc = EXIT_USAGE;
		} else
			rc = cli_fail(cli, &err);
	} else if (strcmp(out, "-"))
		fprintf(stderr, "wrote %s\n", out);
	goto release;
done:
	margo_config_release(&cfg);
release:
	free(text);
	if (have_app)
		margo_app_release(&app);
	margo_verrs_release(&errs);
	answers_release(ans);
	free(ans);
	free(sets);
	return rc;
}
