/* The catalog pages' API: GET /ocimirror/v1/app, /resource and /repos
 * (see api.h). /ocimirror/v1/apps is read_apps (read.c). */
#include "mirror/serve/api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mirror/margo/browse.h"
#include "mirror/serve/respond.h"
#include "mirror/store/walk.h"
#include "oci/manifest.h"
#include "oci/mediatype.h"
#include "oci/platform.h"

static void url_escape(struct buf *b, const char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr("-._~/", ch))
			buf_printf(b, "%c", ch);
		else
			buf_printf(b, "%%%02X", ch);
	}
}

json_t *api_resource_url(const char *repo, const char *tag, const char *path)
{
	struct buf b;
	json_t *j;

	if (!path)
		return json_null();
	buf_init(&b, 8192);
	buf_printf(&b, "/ocimirror/v1/resource?repo=");
	url_escape(&b, repo);
	buf_printf(&b, "&tag=");
	url_escape(&b, tag);
	buf_printf(&b, "&path=");
	url_escape(&b, path);
	j = b.data ? json_string(b.data) : json_null();
	buf_release(&b);
	return j;
}

static enum MHD_Result send_json(struct req *r, struct MHD_Connection *c,
				 json_t *j)
{
	return respond_json_value(r, c, 200, j);
}

/* A missing or invalid repo (400), an unknown one (404); 0 when fine. */
static int bad_repo(enum MHD_Result *ret, struct req *r,
		    struct MHD_Connection *c)
{
	if (!r->q.repo) {
		*ret = respond_error(r, c, 400, "NAME_INVALID",
				     "the query names no repo");
		return 1;
	}
	if (!store_repo_valid(r->q.repo)) {
		*ret = respond_error(r, c, 400, "NAME_INVALID",
				     "invalid repository name");
		return 1;
	}
	if (!store_repo_exists(r->srv->s, r->q.repo)) {
		*ret = respond_error(r, c, 404, "NAME_UNKNOWN",
				     "repository %s not known", r->q.repo);
		return 1;
	}
	return 0;
}

static enum MHD_Result failed(struct req *r, struct MHD_Connection *c, int rc,
			      const char *code, const struct err *e)
{
	if (rc == ERR_NOT_FOUND)
		return respond_error(r, c, 404, code, "%s", e->msg);
	__atomic_add_fetch(&r->srv->opens_refused, 1, __ATOMIC_RELAXED);
	return respond_unavailable(r, c, "store: %s", e->msg);
}

enum MHD_Result api_app(struct req *r, struct MHD_Connection *c)
{
	enum MHD_Result ret;
	json_t *j, *res, *v;
	const char *k, *repo = r->q.repo, *tag;
	struct err e;
	int rc;

	if (bad_repo(&ret, r, c))
		return ret;
	if (r->q.tag && !oci_tag_valid(r->q.tag))
		return respond_error(r, c, 404, "MANIFEST_UNKNOWN",
				     "no such tag in %s", repo);
	err_clear(&e);
	rc =
	    margo_browse_app(&j, r->srv->s, r->srv->icache, repo, r->q.tag, &e);
	if (rc)
		return failed(r, c, rc, "MANIFEST_UNKNOWN", &e);
	tag = json_string_value(json_object_get(j, "tag"));
	res = json_object_get(j, "resources");
	json_object_foreach (res, k, v)
		if (json_is_string(v))
			json_object_set_new(
			    res, k,
			    api_resource_url(repo, tag, json_string_value(v)));
	return send_json(r, c, j);
}

enum MHD_Result api_resource(struct req *r, struct MHD_Connection *c)
{
	struct MHD_Response *resp;
	struct oci_digest d;
	struct store_ref ref;
	char mt[256], disp[300];
	const char *ctype, *name;
	int64_t size, fsize;
	enum MHD_Result ret;
	int rc, fd, image;
	struct err e;

	if (bad_repo(&ret, r, c))
		return ret;
	if (!r->q.tag || !r->q.path)
		return respond_error(r, c, 400, "UNSUPPORTED",
				     "the query needs repo, tag and path");
	err_clear(&e);
	rc = oci_tag_valid(r->q.tag)
		 ? store_tag_get(&ref, r->srv->s, r->q.repo, r->q.tag, &e)
		 : err_set(&e, ERR_NOT_FOUND, "no tag %s in %s", r->q.tag,
			   r->q.repo);
	if (rc)
		return failed(r, c, rc == ERR_INVALID ? ERR_NOT_FOUND : rc,
			      "MANIFEST_UNKNOWN", &e);
	rc = margo_browse_resource(&d, &size, mt, sizeof(mt), r->srv->s,
				   r->q.repo, r->q.tag, r->q.path, &e);
	if (rc)
		return failed(r, c, rc, "BLOB_UNKNOWN", &e);
	rc = store_blob_open(&fd, &fsize, r->srv->s, &d, &e);
	if (rc)
		return failed(r, c, rc, "BLOB_UNKNOWN", &e);
	if (fsize != size) {
		close(fd);
		return respond_unavailable(
		    r, c, "store: blob %s has %lld bytes, its layer says %lld",
		    d.str, (long long)fsize, (long long)size);
	}
	resp = MHD_create_response_from_fd64((uint64_t)size, fd);
	if (!resp) {
		close(fd);
		return MHD_NO;
	}
	ctype = margo_resource_content_type(mt, &image);
	MHD_add_response_header(resp, "Content-Type", ctype);
	MHD_add_response_header(resp, "Docker-Content-Digest", d.str);
	/* an SVG opened on its own runs no script, nor anything else */
	MHD_add_response_header(resp, "Content-Security-Policy",
				RESPOND_CSP "; sandbox");
	if (!image) {
		/* the last path part, with nothing that ends the quotes */
		name = strrchr(r->q.path, '/');
		name = name ? name + 1 : r->q.path;
		snprintf(disp, sizeof(disp), "attachment; filename=\"");
		for (size_t o = strlen(disp); *name && o + 2 < sizeof(disp);
		     name++)
			if ((unsigned char)*name >= 0x20 && *name != '"' &&
			    *name != '\\' && (unsigned char)*name < 0x7f)
				disp[o++] = *name, disp[o] = '\0';
		strncat(disp, "\"", sizeof(disp) - strlen(disp) - 1);
		MHD_add_response_header(resp, "Content-Disposition", disp);
	}
	MHD_add_response_header(resp, "Cache-Control", "no-cache");
	r->bytes_out += (uint64_t)size;
	return respond_send(r, c, 200, resp);
}

/* Referrer counts of one manifest. */
struct refcount {
	long long all, sigs, sboms;
};

static int count_referrer(void *ctx, const char *desc)
{
	struct refcount *rc = ctx;
	json_t *d = json_loads(desc, 0, NULL);
	const char *at = json_string_value(json_object_get(d, "artifactType"));

	rc->all++;
	if (oci_artifact_type_is_signature(at))
		rc->sigs++;
	else if (oci_artifact_type_is_sbom(at))
		rc->sboms++;
	json_decref(d);
	return 0;
}

/* a + b, at most INT64_MAX (descriptor sizes are the manifest's word) */
static int64_t size_add(int64_t a, int64_t b)
{
	int64_t n;

	return __builtin_add_overflow(a, b, &n) ? INT64_MAX : n;
}

/* The bytes of manifest d and of what it names (children of an index
 * counted when stored); its platforms into plats. */
static int64_t manifest_size(const struct store *s, const struct oci_digest *d,
			     const char *mt, json_t *plats, int depth)
{
	struct oci_manifest m;
	char *raw = NULL;
	size_t len = 0;
	int64_t n;

	if (store_blob_read(&raw, &len, s, d, OCI_MANIFEST_MAX, NULL))
		return 0;
	if (oci_manifest_parse(&m, raw, len, mt, NULL)) {
		free(raw);
		return (int64_t)len;
	}
	free(raw);
	n = (int64_t)len;
	if (m.kind == OCI_KIND_MANIFEST) {
		if (m.has_config && m.config.size > 0)
			n = size_add(n, m.config.size);
		for (size_t i = 0; i < m.n_layers; i++)
			if (m.layers[i].size > 0)
				n = size_add(n, m.layers[i].size);
	} else {
		for (size_t i = 0; i < m.n_manifests; i++) {
			const struct oci_descriptor *ch = &m.manifests[i];

			if (plats && ch->has_platform) {
				char p[128];

				oci_platform_format(&ch->platform, p,
						    sizeof(p));
				json_array_append_new(plats, json_string(p));
			}
			if (depth < 2)
				n = size_add(n, manifest_size(s, &ch->digest,
							      ch->media_type,
							      NULL, depth + 1));
		}
	}
	oci_manifest_release(&m);
	return n;
}

struct repos {
	const struct store *s;
	json_t *arr, *cur;
	size_t n_tags; /* of cur */
	int failed;
	struct err err;
};

/* repositories per answer unless n: what the page reads in one answer */
#define API_REPOS_PAGE 1000
#define API_REPOS_PAGE_MAX 1000 /* n above is taken as this */
#define API_REPO_TAGS_MAX 1000	/* tags per repository (tagsTruncated) */

/* 1 when repo has tag "ALG-HEX.SUFFIX" for d (cosign's scheme). */
static int has_suffix_tag(const struct store *s, const char *repo,
			  const struct oci_digest *d, const char *suffix)
{
	char t[OCI_TAG_MAX + 1];
	struct store_ref ref;

	snprintf(t, sizeof(t), "%s-%s.%s", oci_digest_alg_name(d->alg),
		 oci_digest_hex(d), suffix);
	return !store_tag_get(&ref, s, repo, t, NULL);
}

static int visit_repo_tag(void *ctx, const char *repo, const char *tag,
			  const struct store_ref *ref)
{
	struct repos *rs = ctx;
	struct refcount rc = {0, 0, 0};
	json_t *plats, *tags;
	struct err e;
	int64_t size;

	if (!rs->cur ||
	    strcmp(json_string_value(json_object_get(rs->cur, "repository")),
		   repo)) {
		rs->cur = json_pack("{s:s,s:[],s:b}", "repository", repo,
				    "tags", "tagsTruncated", 0);
		json_array_append_new(rs->arr, rs->cur);
		rs->n_tags = 0;
	}
	if (!tag)
		return 0;
	if (rs->n_tags >= API_REPO_TAGS_MAX) {
		json_object_set_new(rs->cur, "tagsTruncated", json_true());
		return 0;
	}
	rs->n_tags++;
	tags = json_object_get(rs->cur, "tags");
	plats = json_array();
	size = manifest_size(rs->s, &ref->digest, ref->media_type, plats, 0);
	if (store_referrers_list(rs->s, repo, &ref->digest, count_referrer, &rc,
				 &e) &&
	    e.code != ERR_NOT_FOUND) {
		rs->failed = 1;
		rs->err = e;
		json_decref(plats);
		return 1;
	}
	rc.sigs += has_suffix_tag(rs->s, repo, &ref->digest, "sig");
	rc.sboms += has_suffix_tag(rs->s, repo, &ref->digest, "sbom");
	json_array_append_new(
	    tags,
	    json_pack("{s:s,s:s,s:s,s:o,s:I,s:I,s:I,s:I}", "tag", tag, "digest",
		      ref->digest.str, "mediaType", ref->media_type,
		      "platforms", plats, "size", (json_int_t)size,
		      "signatures", (json_int_t)rc.sigs, "sboms",
		      (json_int_t)rc.sboms, "referrers", (json_int_t)rc.all));
	return 0;
}

static int collect_repo(void *ctx, const char *repo)
{
	struct repos *rs = ctx;

	if (store_repo_exists(rs->s, repo))
		json_array_append_new(rs->arr, json_string(repo));
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

enum MHD_Result api_repos(struct req *r, struct MHD_Connection *c)
{
	long n = r->q.n >= 0 ? r->q.n : API_REPOS_PAGE;
	struct MHD_Response *resp = NULL;
	const char **names = NULL;
	size_t nn, start = 0, end;
	struct repos rs;
	char *text;
	int rc = 0;

	if (r->q.n_bad)
		return respond_error(r, c, 400, "UNSUPPORTED",
				     "invalid n \"%s\"", r->q.n_text);
	if (n > API_REPOS_PAGE_MAX)
		n = API_REPOS_PAGE_MAX;
	memset(&rs, 0, sizeof(rs));
	rs.s = r->srv->s;
	rs.arr = json_array();
	err_clear(&rs.err);
	/* the names first (sorted), then the tags of one page only */
	rc = walk_repos(rs.s, collect_repo, &rs, &rs.err);
	nn = json_array_size(rs.arr);
	names = calloc(nn + 1, sizeof(*names));
	if (!names || rc < 0) {
		free(names);
		json_decref(rs.arr);
		__atomic_add_fetch(&r->srv->opens_refused, 1, __ATOMIC_RELAXED);
		return respond_unavailable(r, c, "store: %s",
					   names ? rs.err.msg
						 : "listing repositories: out "
						   "of memory");
	}
	for (size_t i = 0; i < nn; i++)
		names[i] = json_string_value(json_array_get(rs.arr, i));
	qsort(names, nn, sizeof(*names), name_cmp);
	if (r->q.last)
		while (start < nn && strcmp(names[start], r->q.last) <= 0)
			start++;
	end = start + (size_t)n < nn ? start + (size_t)n : nn;
	{
		json_t *all = rs.arr;

		rs.arr = json_array();
		for (size_t i = start; i < end && !rs.failed; i++) {
			rc = walk_tags(rs.s, names[i], visit_repo_tag, &rs,
				       &rs.err);
			if (rc < 0)
				break;
		}
		if (!rs.failed && rc >= 0 && end < nn && end > start) {
			struct buf link;

			buf_init(&link, 4096);
			/* repository names are URL-safe */
			buf_printf(&link,
				   "</ocimirror/v1/repos?n=%ld&last=%s>; "
				   "rel=\"next\"",
				   n, names[end - 1]);
			text = link.data ? strdup(link.data) : NULL;
			buf_release(&link);
		} else {
			text = NULL;
		}
		free(names);
		json_decref(all);
	}
	if (rs.failed || rc < 0) {
		free(text);
		json_decref(rs.arr);
		__atomic_add_fetch(&r->srv->opens_refused, 1, __ATOMIC_RELAXED);
		return respond_unavailable(r, c, "store: %s", rs.err.msg);
	}
	{
		char *body = json_dumps(rs.arr, JSON_COMPACT);
		char *link = text;

		json_decref(rs.arr);
		if (!body) {
			free(link);
			return MHD_NO;
		}
		respond_json(r, c, 200, "application/json", body, strlen(body),
			     &resp);
		if (resp && link)
			MHD_add_response_header(resp, "Link", link);
		r->bytes_out += strlen(body);
		free(body);
		free(link);
		return respond_send(r, c, 200, resp);
	}
}
