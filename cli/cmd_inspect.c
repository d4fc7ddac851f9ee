/* ocimirror inspect REF: a manifest, index or config as JSON, from a
 * remote registry or (with a "store:" prefix) from the store. */
#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "oci/manifest.h"
#include "oci/ref.h"
#include "registry/pool.h"

#define CONFIG_MAX (16u * 1024 * 1024)

static int print_json(const char *p, size_t n, int raw)
{
	json_t *j;

	if (raw) {
		fwrite(p, 1, n, stdout);
		return 0;
	}
	j = json_loadb(p, n, 0, NULL);
	if (!j) {
		fwrite(p, 1, n, stdout);
		return 0;
	}
	json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	json_decref(j);
	return 0;
}

static int from_store(struct cli *cli, const char *spec, int raw, int config,
		      const struct oci_platform *plat, int have_plat,
		      struct err *err)
{
	struct store st;
	struct oci_ref ref;
	struct store_ref sr;
	struct oci_manifest m;
	char repo[OCI_REPO_MAX], *body = NULL;
	size_t len = 0;
	int rc;

	memset(&m, 0, sizeof(m));
	rc = oci_ref_parse(&ref, spec, err);
	if (rc)
		return cli_usage(cli, "inspect: %s", err->msg);
	rc = store_open(&st, cli->store_dir, 0, err);
	if (rc)
		return cli_fail(cli, err);
	oci_ref_repo(&ref, repo, sizeof(repo));
	if (!store_repo_exists(&st, repo) && !oci_name_has_host(spec)) {
		/* a local name pushed without a host ("team/app") */
		const char *p = repo + 10;
		if (!strncmp(p, "library/", 8) && !strchr(spec, '/'))
			p += 8;
		if (store_repo_exists(&st, p))
			memmove(repo, p, strlen(p) + 1);
	}
	if (ref.has_digest)
		rc = store_manifest_get(&sr, &st, repo, &ref.digest, err);
	else
		rc = store_tag_get(&sr, &st, repo, ref.tag, err);
	if (!rc)
		rc = store_blob_read(&body, &len, &st, &sr.digest,
				     OCI_MANIFEST_MAX, err);
	if (!rc && (config || have_plat))
		rc = oci_manifest_parse(&m, body, len, sr.media_type, err);
	if (!rc && have_plat && m.kind == OCI_KIND_INDEX) {
		const struct oci_descriptor *d = oci_index_pick(&m, plat);
		if (!d) {
			rc = err_set(err, ERR_NOT_FOUND,
				     "%s: no manifest for that platform", spec);
		} else {
			struct oci_digest dg = d->digest;
			free(body);
			body = NULL;
			oci_manifest_release(&m);
			rc = store_blob_read(&body, &len, &st, &dg,
					     OCI_MANIFEST_MAX, err);
			if (!rc)
				rc = oci_manifest_parse(&m, body, len, NULL,
							err);
		}
	}
	if (!rc && config) {
		if (m.kind != OCI_KIND_MANIFEST || !m.has_config) {
			rc = err_set(
			    err, ERR_INVALID,
			    "%s is an index; add --platform to pick a manifest",
			    spec);
		} else {
			free(body);
			body = NULL;
			rc = store_blob_read(&body, &len, &st, &m.config.digest,
					     CONFIG_MAX, err);
		}
	}
	if (!rc)
		print_json(body, len, raw);
	oci_manifest_release(&m);
	free(body);
	store_close(&st);
	return rc ? cli_fail(cli, err) : EXIT_OK;
}

int cmd_inspect(int argc, char **argv, struct cli *cli)
{
	static const struct option opts[] = {
	    {"raw", no_argument, NULL, 'r'},
	    {"config", no_argument, NULL, 'c'},
	    {"platform", required_argument, NULL, 'p'},
	    {NULL, 0, NULL, 0},
	};
	struct oci_platform plat;
	struct oci_ref ref;
	struct reg_options *o = &cli->reg;
	struct reg_pool pool;
	struct reg_client *c;
	struct reg_manifest rm;
	struct oci_manifest m;
	struct buf cfg;
	struct err err;
	int ch, raw = 0, config = 0, have_plat = 0, rc;

	err_clear(&err);
	memset(&m, 0, sizeof(m));
	memset(&rm, 0, sizeof(rm));
	while ((ch = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (ch) {
		case 'r': raw = 1; break;
		case 'c': config = 1; break;
		case 'p':
			if (oci_platform_parse(&plat, optarg, &err))
				return cli_usage(cli, "inspect: --platform: %s",
						 err.msg);
			have_plat = 1;
			break;
		default: return cli_bad_option(cli, "inspect", ch, argv, opts);
		}
	}
	if (argc - optind != 1)
		return cli_usage(cli, "usage: ocimirror inspect REF [--raw] "
				      "[--config] [--platform P]");
	if (!strncmp(argv[optind], "store:", 6))
		return from_store(cli, argv[optind] + 6, raw, config, &plat,
				  have_plat, &err);
	if (oci_ref_parse(&ref, argv[optind], &err))
		return cli_usage(cli, "inspect: %s", err.msg);
	buf_init(&cfg, CONFIG_MAX);
	reg_pool_init(&pool, o);
	rc = reg_pool_get(&pool, &c, ref.host, &err);
	if (!rc)
		rc = reg_client_get_manifest(
		    c, &rm, ref.path, ref.has_digest ? ref.digest.str : ref.tag,
		    &err);
	if (!rc && (config || have_plat))
		rc = oci_manifest_parse(&m, rm.body, rm.len, rm.content_type,
					&err);
	if (!rc && have_plat && m.kind == OCI_KIND_INDEX) {
		const struct oci_descriptor *d = oci_index_pick(&m, &plat);
		if (!d) {
			rc = err_set(&err, ERR_NOT_FOUND,
				     "%s: no manifest for that platform",
				     argv[optind]);
		} else {
			char dg[OCI_DIGEST_MAX];
			snprintf(dg, sizeof(dg), "%s", d->digest.str);
			oci_manifest_release(&m);
			reg_manifest_release(&rm);
			rc =
			    reg_client_get_manifest(c, &rm, ref.path, dg, &err);
			if (!rc)
				rc = oci_manifest_parse(&m, rm.body, rm.len,
							rm.content_type, &err);
		}
	}
	if (!rc && config) {
		if (m.kind != OCI_KIND_MANIFEST || !m.has_config)
			rc = err_set(
			    &err, ERR_INVALID,
			    "%s is an index; add --platform to pick a manifest",
			    argv[optind]);
		else
			rc = reg_client_get_blob(c, &cfg, ref.path,
						 &m.config.digest, &err);
		if (!rc)
			print_json(cfg.data, cfg.len, raw);
	} else if (!rc) {
		print_json(rm.body, rm.len, raw);
	}
	oci_manifest_release(&m);
	reg_manifest_release(&rm);
	buf_release(&cfg);
	reg_pool_release(&pool);
	return rc ? cli_fail(cli, &err) : EXIT_OK;
}
