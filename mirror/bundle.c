#include "mirror/bundle.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "mirror/store/walk.h"
#include "oci/buf.h"
#include "oci/manifest.h"
#include "oci/mediatype.h"
#include "oci/ref.h"

#define INDEX_MAX (16u * 1024 * 1024)
#define DESC_MAX (64u * 1024 * 1024)
#define SMALL_MAX (64u * 1024)
#define CHUNK (1024 * 1024)
#define ANN_REPO "io.ocimirror.repository"
#define DESC_NAME "ocimirror-bundle.json"
#define TOOL_VERSION "ocimirror 0.1.0"

/* ---- sets of digests: sorted arrays ---- */

struct dset {
	char **v;
	size_t n, cap;
	int sorted;
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int dset_add(struct dset *d, const char *s)
{
	if (d->n == d->cap) {
		size_t nc = d->cap ? d->cap * 2 : 64;
		char **nv = realloc(d->v, nc * sizeof(*nv));
		if (!nv)
			return ERR_FAIL;
		d->v = nv;
		d->cap = nc;
	}
	d->v[d->n] = strdup(s);
	if (!d->v[d->n])
		return ERR_FAIL;
	d->n++;
	d->sorted = 0;
	return 0;
}

static void dset_sort(struct dset *d)
{
	size_t j = 0;

	if (d->sorted)
		return;
	if (d->n)
		qsort(d->v, d->n, sizeof(*d->v), cmp_str);
	for (size_t i = 0; i < d->n; i++) {
		if (j && !strcmp(d->v[j - 1], d->v[i])) {
			free(d->v[i]);
			continue;
		}
		d->v[j++] = d->v[i];
	}
	d->n = j;
	d->sorted = 1;
}

static int dset_has(struct dset *d, const char *s)
{
	dset_sort(d);
	return d->n && bsearch(&s, d->v, d->n, sizeof(*d->v), cmp_str) != NULL;
}

static void dset_release(struct dset *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->v[i]);
	free(d->v);
	memset(d, 0, sizeof(*d));
}

/* ---- export: what a reference needs ---- */

struct refplan {
	char ref[OCI_REPO_MAX + OCI_TAG_MAX + 2];
	char repo[OCI_REPO_MAX];
	struct store_ref top;
	struct dset manifests, blobs;
};

struct referrer {
	char repo[OCI_REPO_MAX];
	struct oci_digest digest;
	char media_type[128];
	int64_t size;
};

struct plan {
	struct refplan *refs;
	size_t n, cap;
	struct referrer *rfs;
	size_t n_rfs, cap_rfs;
	struct dset all; /* every digest to write */
};

struct walk_ctx {
	const struct store *s;
	struct plan *p;
	struct refplan *rp;
	int depth;
	struct err *err;
	int rc;
};

static int walk(struct walk_ctx *w, const struct oci_digest *d, int referrer);

static int on_referrer(void *ctx, const char *desc)
{
	struct walk_ctx *w = ctx;
	json_t *j = json_loads(desc, 0, NULL);
	struct oci_digest d;
	const char *ds = json_string_value(json_object_get(j, "digest"));
	int rc = 0;

	if (ds && !oci_digest_parse(&d, ds, NULL) &&
	    store_blob_exists(NULL, w->s, &d))
		rc = walk(w, &d, 1);
	json_decref(j);
	return rc;
}

static int walk(struct walk_ctx *w, const struct oci_digest *d, int referrer)
{
	struct oci_manifest m;
	char *raw = NULL;
	size_t len = 0;
	int rc;

	if (w->depth > 8)
		return err_set(w->err, ERR_INVALID, "%s: nesting too deep",
			       d->str);
	if (dset_has(&w->rp->manifests, d->str))
		return 0;
	rc = store_blob_read(&raw, &len, w->s, d, OCI_MANIFEST_MAX, w->err);
	if (rc)
		return err_wrap(w->err, "%s: ", w->rp->ref);
	rc = oci_manifest_parse(&m, raw, len, NULL, w->err);
	free(raw);
	if (rc)
		return err_wrap(w->err, "%s: ", w->rp->ref);
	if (m.kind == OCI_KIND_INDEX) {
		for (size_t i = 0; i < m.n_manifests && !rc; i++) {
			/* children the store does not hold were not mirrored
			 * (platform filter): not part of this reference */
			if (!store_blob_exists(NULL, w->s,
					       &m.manifests[i].digest))
				continue;
			w->depth++;
			rc = walk(w, &m.manifests[i].digest, 0);
			w->depth--;
		}
	} else {
		if (m.has_config) {
			if (!store_blob_exists(NULL, w->s, &m.config.digest))
				rc = err_set(
				    w->err, ERR_NOT_FOUND,
				    "%s: config %s missing from the store",
				    w->rp->ref, m.config.digest.str);
			else
				rc = dset_add(&w->rp->blobs,
					      m.config.digest.str);
		}
		for (size_t i = 0; i < m.n_layers && !rc; i++) {
			if (!store_blob_exists(NULL, w->s, &m.layers[i].digest))
				rc = err_set(
				    w->err, ERR_NOT_FOUND,
				    "%s: layer %s missing from the store",
				    w->rp->ref, m.layers[i].digest.str);
			else
				rc = dset_add(&w->rp->blobs,
					      m.layers[i].digest.str);
		}
	}
	if (!rc)
		rc = dset_add(&w->rp->manifests, d->str);
	if (!rc && referrer) {
		struct plan *p = w->p;
		if (p->n_rfs == p->cap_rfs) {
			size_t nc = p->cap_rfs ? p->cap_rfs * 2 : 16;
			struct referrer *nv = realloc(p->rfs, nc * sizeof(*nv));
			if (!nv)
				rc = ERR_FAIL;
			else {
				p->rfs = nv;
				p->cap_rfs = nc;
			}
		}
		if (!rc) {
			struct referrer *r = &p->rfs[p->n_rfs++];
			snprintf(r->repo, sizeof(r->repo), "%s", w->rp->repo);
			r->digest = *d;
			snprintf(r->media_type, sizeof(r->media_type), "%s",
				 m.media_type);
			r->size = (int64_t)m.raw_len;
		}
	}
	if (!rc) {
		w->depth++;
		store_referrers_list(w->s, w->rp->repo, d, on_referrer, w,
				     NULL);
		w->depth--;
	}
	oci_manifest_release(&m);
	return rc;
}

static struct refplan *plan_add(struct plan *p)
{
	if (p->n == p->cap) {
		size_t nc = p->cap ? p->cap * 2 : 16;
		struct refplan *nv = realloc(p->refs, nc * sizeof(*nv));
		if (!nv)
			return NULL;
		p->refs = nv;
		p->cap = nc;
	}
	memset(&p->refs[p->n], 0, sizeof(p->refs[0]));
	return &p->refs[p->n++];
}

static void plan_release(struct plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		dset_release(&p->refs[i].manifests);
		dset_release(&p->refs[i].blobs);
	}
	free(p->refs);
	free(p->rfs);
	dset_release(&p->all);
	memset(p, 0, sizeof(*p));
}

/* "repo:tag" -> repo, tag (the tag follows the last ':' after the last '/') */
static int split_ref(const char *ref, char *repo, char *tag)
{
	return store_name_split(repo, tag, ref, NULL) || !tag[0] ? -1 : 0;
}

static int plan_ref(const struct store *s, struct plan *p, const char *ref,
		    struct err *err)
{
	struct refplan *rp = plan_add(p);
	char tag[OCI_TAG_MAX + 1];
	struct walk_ctx w;
	int rc;

	if (!rp)
		return err_set(err, ERR_FAIL, "out of memory");
	snprintf(rp->ref, sizeof(rp->ref), "%s", ref);
	if (split_ref(ref, rp->repo, tag))
		return err_set(err, ERR_INVALID,
			       "invalid reference \"%.300s\": want "
			       "REPOSITORY:TAG as in `ocimirror ls`",
			       ref);
	rc = store_tag_get(&rp->top, s, rp->repo, tag, err);
	if (rc)
		return rc;
	memset(&w, 0, sizeof(w));
	w.s = s;
	w.p = p;
	w.rp = rp;
	w.err = err;
	rc = walk(&w, &rp->top.digest, 0);
	if (rc)
		return rc;
	for (size_t i = 0; i < rp->manifests.n; i++)
		dset_add(&p->all, rp->manifests.v[i]);
	for (size_t i = 0; i < rp->blobs.n; i++)
		dset_add(&p->all, rp->blobs.v[i]);
	dset_sort(&rp->manifests);
	dset_sort(&rp->blobs);
	return 0;
}

struct all_ctx {
	const struct store *s;
	struct plan *p;
	struct err *err;
	int rc;
};

static int plan_all_cb(void *ctx, const char *repo, const char *tag,
		       const struct store_ref *ref)
{
	struct all_ctx *a = ctx;
	char full[OCI_REPO_MAX + OCI_TAG_MAX + 2];

	(void)ref;
	if (!tag)
		return 0;
	snprintf(full, sizeof(full), "%s:%s", repo, tag);
	a->rc = plan_ref(a->s, a->p, full, a->err);
	return a->rc != 0;
}

/* ---- output: one file, or parts of at most `split` bytes ---- */

struct out {
	const char *path;
	uint64_t split;
	int part;
	int fd;
	uint64_t in_part;
	char tmp[4200];
	char final[4200];
	struct err *err;
	int failed;
	/* compression on our side of the archive: libarchive's zstd filter
	 * holds ~100 MiB; a streaming context with bounded jobs does not */
	ZSTD_CCtx *z;
	char *zbuf;
	size_t zcap;
};

static int out_close_part(struct out *o)
{
	int rc = 0;

	if (o->fd < 0)
		return 0;
	if (fsync(o->fd) || close(o->fd))
		rc = -1;
	o->fd = -1;
	if (!rc && rename(o->tmp, o->final))
		rc = -1;
	if (rc)
		err_set(o->err, ERR_FAIL, "write %s: %s", o->final,
			strerror(errno));
	return rc;
}

static int out_open_part(struct out *o)
{
	if (o->split) {
		o->part++;
		snprintf(o->final, sizeof(o->final), "%s.part-%04d", o->path,
			 o->part);
	} else {
		snprintf(o->final, sizeof(o->final), "%s", o->path);
	}
	snprintf(o->tmp, sizeof(o->tmp), "%s.tmp-%d", o->final, (int)getpid());
	o->fd = open(o->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	o->in_part = 0;
	if (o->fd < 0) {
		err_set(o->err, ERR_FAIL, "create %s: %s", o->tmp,
			strerror(errno));
		return -1;
	}
	return 0;
}

static la_ssize_t raw_write(struct out *o, const void *buf, size_t n)
{
	const char *p = buf;
	size_t left = n;

	while (left) {
		size_t k = left;
		ssize_t w;

		if (o->fd < 0 && out_open_part(o))
			goto fail;
		if (o->split && k > o->split - o->in_part)
			k = (size_t)(o->split - o->in_part);
		w = write(o->fd, p, k);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			err_set(o->err, ERR_FAIL, "write %s: %s", o->tmp,
				strerror(errno));
			goto fail;
		}
		p += w;
		left -= (size_t)w;
		o->in_part += (uint64_t)w;
		if (o->split && o->in_part == o->split && out_close_part(o))
			goto fail;
	}
	return (la_ssize_t)n;
fail:
	o->failed = 1;
	return -1;
}

static la_ssize_t out_write(struct archive *a, void *ctx, const void *buf,
			    size_t n)
{
	struct out *o = ctx;
	ZSTD_inBuffer in = {buf, n, 0};

	(void)a;
	if (!o->z)
		return raw_write(o, buf, n);
	while (in.pos < in.size) {
		ZSTD_outBuffer ob = {o->zbuf, o->zcap, 0};
		size_t r =
		    ZSTD_compressStream2(o->z, &ob, &in, ZSTD_e_continue);

		if (ZSTD_isError(r)) {
			err_set(o->err, ERR_FAIL, "zstd: %s",
				ZSTD_getErrorName(r));
			o->failed = 1;
			return -1;
		}
		if (ob.pos && raw_write(o, o->zbuf, ob.pos) < 0)
			return -1;
	}
	return (la_ssize_t)n;
}

static int out_finish(struct out *o)
{
	size_t left;

	if (!o->z)
		return 0;
	do {
		ZSTD_inBuffer in = {NULL, 0, 0};
		ZSTD_outBuffer ob = {o->zbuf, o->zcap, 0};

		left = ZSTD_compressStream2(o->z, &ob, &in, ZSTD_e_end);
		if (ZSTD_isError(left))
			return err_set(o->err, ERR_FAIL, "zstd: %s",
				       ZSTD_getErrorName(left));
		if (ob.pos && raw_write(o, o->zbuf, ob.pos) < 0)
			return ERR_FAIL;
	} while (left);
	return 0;
}

static int add_file(struct archive *a, const char *name, const void *p,
		    size_t n, struct err *err)
{
	struct archive_entry *e = archive_entry_new();
	int rc = 0;

	archive_entry_set_pathname(e, name);
	archive_entry_set_size(e, (la_int64_t)n);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_mtime(e, time(NULL), 0);
	if (archive_write_header(a, e) != ARCHIVE_OK ||
	    (n && archive_write_data(a, p, n) != (la_ssize_t)n))
		rc = err_set(err, ERR_FAIL, "bundle %s: %s", name,
			     archive_error_string(a));
	archive_entry_free(e);
	return rc;
}

static int add_blob(struct archive *a, const struct store *s,
		    const struct oci_digest *d, uint64_t *bytes,
		    struct err *err)
{
	struct archive_entry *e;
	char name[OCI_DIGEST_MAX + 16], *buf;
	int64_t size;
	int fd, rc;

	rc = store_blob_open(&fd, &size, s, d, err);
	if (rc)
		return rc;
	buf = malloc(CHUNK);
	e = archive_entry_new();
	snprintf(name, sizeof(name), "blobs/%s/%s", oci_digest_alg_name(d->alg),
		 oci_digest_hex(d));
	archive_entry_set_pathname(e, name);
	archive_entry_set_size(e, size);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_mtime(e, time(NULL), 0);
	if (!buf || archive_write_header(a, e) != ARCHIVE_OK) {
		rc = err_set(err, ERR_FAIL, "bundle %s: %s", name,
			     archive_error_string(a));
		goto out;
	}
	for (int64_t left = size; left > 0;) {
		ssize_t r = read(fd, buf, left > CHUNK ? CHUNK : (size_t)left);
		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			rc = err_set(err, ERR_FAIL, "read blob %s: %s", d->str,
				     r ? strerror(errno) : "short file");
			goto out;
		}
		if (archive_write_data(a, buf, (size_t)r) != r) {
			rc = err_set(err, ERR_FAIL, "bundle %s: %s", name,
				     archive_error_string(a));
			goto out;
		}
		left -= r;
		*bytes += (uint64_t)r;
	}
out:
	archive_entry_free(e);
	free(buf);
	close(fd);
	return rc;
}

static int load_inventory(struct dset *out, const char *path, char **id_out,
			  struct err *err)
{
	json_error_t je;
	json_t *j = json_load_file(path, 0, &je), *b, *v;
	size_t i;

	if (!j)
		return err_set(err, ERR_INVALID, "inventory %s:%d: %s", path,
			       je.line, je.text);
	b = json_object_get(j, "blobs");
	if (!json_is_array(b)) {
		json_decref(j);
		return err_set(err, ERR_INVALID,
			       "inventory %s: no \"blobs\" list (made by "
			       "`ocimirror inventory`?)",
			       path);
	}
	json_array_foreach (b, i, v) {
		struct oci_digest d;
		if (!json_is_string(v) ||
		    oci_digest_parse(&d, json_string_value(v), NULL)) {
			json_decref(j);
			return err_set(
			    err, ERR_INVALID,
			    "inventory %s: blobs[%zu] is not a digest", path,
			    i);
		}
		dset_add(out, d.str);
	}
	if (id_out && json_is_string(json_object_get(j, "created")))
		*id_out =
		    strdup(json_string_value(json_object_get(j, "created")));
	json_decref(j);
	dset_sort(out);
	return 0;
}

static char *now_iso(char *buf, size_t cap)
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

int bundle_export(struct store *s, const char *path,
		  const struct bundle_export_options *o,
		  struct bundle_stats *stats, struct err *err)
{
	struct plan p;
	struct dset since = {0};
	struct archive *a = NULL;
	struct out out;
	json_t *index = NULL, *mans, *desc = NULL, *refs_j = NULL;
	char *since_id = NULL, *text = NULL, ts[32];
	size_t plen = strlen(path);
	int compress = o->compress, rc = 0;

	memset(&p, 0, sizeof(p));
	memset(stats, 0, sizeof(*stats));
	memset(&out, 0, sizeof(out));
	out.fd = -1;
	if (o->since) {
		rc = load_inventory(&since, o->since, &since_id, err);
		if (rc)
			goto out;
	}
	if (o->all) {
		struct all_ctx ac = {s, &p, err, 0};
		rc = walk_tags(s, NULL, plan_all_cb, &ac, err);
		if (ac.rc)
			rc = ac.rc;
	} else {
		for (size_t i = 0; i < o->n_refs && !rc; i++)
			rc = plan_ref(s, &p, o->refs[i], err);
	}
	if (rc)
		goto out;
	if (!p.n) {
		rc = err_set(err, ERR_NOT_FOUND,
			     "nothing to export: the store holds no tag");
		goto out;
	}
	dset_sort(&p.all);
	if (compress < 0)
		compress = !(plen > 4 && !strcmp(path + plen - 4, ".tar"));
	a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	if (compress) {
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

		out.z = ZSTD_createCCtx();
		out.zcap = ZSTD_CStreamOutSize();
		out.zbuf = malloc(out.zcap);
		if (!out.z || !out.zbuf) {
			rc = err_set(err, ERR_FAIL, "out of memory");
			goto out;
		}
		ZSTD_CCtx_setParameter(out.z, ZSTD_c_compressionLevel,
				       o->level > 0 ? o->level : 3);
		/* multi-threaded (when libzstd was built so) with 2 MiB jobs:
		 * memory stays near 35 MiB whatever the bundle size */
		ZSTD_CCtx_setParameter(out.z, ZSTD_c_nbWorkers,
				       ncpu > 1 ? (int)ncpu : 0);
		ZSTD_CCtx_setParameter(out.z, ZSTD_c_jobSize, 2 << 20);
	}
	archive_write_set_bytes_in_last_block(a, 1);
	out.path = path;
	out.split = o->split;
	out.err = err;
	if (archive_write_open2(a, &out, NULL, out_write, NULL, NULL) !=
	    ARCHIVE_OK) {
		rc = err->code ? err->code
			       : err_set(err, ERR_FAIL, "%s: %s", path,
					 archive_error_string(a));
		goto out;
	}
	rc = add_file(a, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", 30,
		      err);
	for (size_t i = 0; i < p.all.n && !rc; i++) {
		struct oci_digest d;
		if (oci_digest_parse(&d, p.all.v[i], err)) {
			rc = ERR_INVALID;
			break;
		}
		if (dset_has(&since, d.str)) {
			stats->blobs_skipped++;
			continue;
		}
		rc = add_blob(a, s, &d, &stats->bytes, err);
		stats->blobs++;
	}
	if (rc)
		goto out;
	/* index.json: tags with their full reference; referrers untagged */
	index = json_pack("{s:i,s:s,s:[]}", "schemaVersion", 2, "mediaType",
			  MT_OCI_INDEX, "manifests");
	mans = json_object_get(index, "manifests");
	refs_j = json_array();
	for (size_t i = 0; i < p.n; i++) {
		struct refplan *rp = &p.refs[i];
		json_t *need_m = json_array(), *need_b = json_array();

		json_array_append_new(
		    mans,
		    json_pack("{s:s,s:s,s:I,s:{s:s}}", "mediaType",
			      rp->top.media_type, "digest", rp->top.digest.str,
			      "size", (json_int_t)rp->top.size, "annotations",
			      ANN_REF_NAME, rp->ref));
		for (size_t k = 0; k < rp->manifests.n; k++)
			json_array_append_new(need_m,
					      json_string(rp->manifests.v[k]));
		for (size_t k = 0; k < rp->blobs.n; k++)
			json_array_append_new(need_b,
					      json_string(rp->blobs.v[k]));
		json_array_append_new(
		    refs_j, json_pack("{s:s,s:s,s:o,s:o}", "ref", rp->ref,
				      "digest", rp->top.digest.str, "manifests",
				      need_m, "blobs", need_b));
	}
	for (size_t i = 0; i < p.n_rfs; i++)
		json_array_append_new(
		    mans, json_pack("{s:s,s:s,s:I,s:{s:s}}", "mediaType",
				    p.rfs[i].media_type, "digest",
				    p.rfs[i].digest.str, "size",
				    (json_int_t)p.rfs[i].size, "annotations",
				    ANN_REPO, p.rfs[i].repo));
	text = json_dumps(index, JSON_COMPACT);
	rc = text ? add_file(a, "index.json", text, strlen(text), err)
		  : ERR_FAIL;
	free(text);
	text = NULL;
	if (rc)
		goto out;
	desc = json_pack("{s:s,s:s,s:o,s:I,s:I,s:I}", "tool", TOOL_VERSION,
			 "created", now_iso(ts, sizeof(ts)), "references",
			 refs_j, "blobs", (json_int_t)stats->blobs, "bytes",
			 (json_int_t)stats->bytes, "blobsLeftOut",
			 (json_int_t)stats->blobs_skipped);
	refs_j = NULL; /* desc holds it now */
	if (o->since)
		json_object_set_new(desc, "since",
				    json_pack("{s:s,s:s?}", "inventory",
					      o->since, "created", since_id));
	text = json_dumps(desc, JSON_COMPACT | JSON_SORT_KEYS);
	rc = text ? add_file(a, DESC_NAME, text, strlen(text), err) : ERR_FAIL;
	free(text);
	text = NULL;
	if (rc)
		goto out;
	if (archive_write_close(a) != ARCHIVE_OK || out.failed) {
		rc = err->code ? err->code
			       : err_set(err, ERR_FAIL, "%s: %s", path,
					 archive_error_string(a));
		goto out;
	}
	rc = out_finish(&out);
	if (!rc)
		rc = out_close_part(&out) ? ERR_FAIL : 0;
	stats->refs = p.n;
	stats->parts = out.split ? (size_t)out.part : 1;
out:
	if (a)
		archive_write_free(a);
	if (out.fd >= 0) {
		close(out.fd);
		unlink(out.tmp);
	}
	ZSTD_freeCCtx(out.z);
	free(out.zbuf);
	json_decref(index);
	json_decref(desc);
	json_decref(refs_j);
	free(since_id);
	dset_release(&since);
	plan_release(&p);
	return rc;
}

/* ---- import ---- */

struct in {
	const char *const *paths;
	size_t n, cur;
	int fd;
	char *buf;
	struct err *err;
};

static int in_next(struct in *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	if (r->cur >= r->n)
		return 0;
	r->fd = open(r->paths[r->cur], O_RDONLY | O_CLOEXEC);
	if (r->fd < 0) {
		err_set(r->err, ERR_NOT_FOUND, "%s: %s", r->paths[r->cur],
			strerror(errno));
		return -1;
	}
	r->cur++;
	return 0;
}

static la_ssize_t in_read(struct archive *a, void *ctx, const void **out)
{
	struct in *r = ctx;

	(void)a;
	for (;;) {
		ssize_t n;

		if (r->fd < 0)
			return 0;
		n = read(r->fd, r->buf, CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err_set(r->err, ERR_FAIL, "read %s: %s",
				r->paths[r->cur - 1], strerror(errno));
			return -1;
		}
		if (n > 0) {
			*out = r->buf;
			return n;
		}
		if (in_next(r))
			return -1;
	}
}

static int read_small(struct archive *a, struct archive_entry *e, size_t max,
		      char **out, size_t *len, const char *name,
		      struct err *err)
{
	struct buf b;
	char tmp[65536];
	la_ssize_t n;

	if (archive_entry_size(e) > (la_int64_t)max)
		return err_set(
		    err, ERR_TOO_LARGE,
		    "bundle entry %s: %lld bytes, more than the %zu allowed",
		    name, (long long)archive_entry_size(e), max);
	buf_init(&b, max);
	while ((n = archive_read_data(a, tmp, sizeof(tmp))) > 0)
		if (buf_append(&b, tmp, (size_t)n))
			return err_set(err, ERR_TOO_LARGE,
				       "bundle entry %s: too large", name);
	if (n < 0) {
		buf_release(&b);
		return err_set(err, ERR_INVALID, "bundle entry %s: %s", name,
			       archive_error_string(a));
	}
	*out = buf_detach(&b, len);
	return 0;
}

static int import_blob(struct archive *a, struct archive_entry *e,
		       struct store *s, const char *name,
		       const struct oci_digest *d, struct bundle_stats *st,
		       struct err *err)
{
	struct store_writer *w = NULL;
	char *buf;
	la_ssize_t n;
	int rc;

	if (!archive_entry_size_is_set(e) || archive_entry_size(e) < 0)
		return err_set(err, ERR_INVALID, "bundle entry %s: no size",
			       name);
	if (store_blob_exists(NULL, s, d)) {
		st->blobs_skipped++;
		return archive_read_data_skip(a) == ARCHIVE_OK
			   ? 0
			   : err_set(err, ERR_INVALID, "bundle entry %s: %s",
				     name, archive_error_string(a));
	}
	rc = store_writer_open(&w, s, d, archive_entry_size(e), err);
	if (rc)
		return rc;
	buf = malloc(CHUNK);
	if (!buf) {
		store_writer_free(w);
		return err_set(err, ERR_FAIL, "out of memory");
	}
	while ((n = archive_read_data(a, buf, CHUNK)) > 0) {
		rc = store_writer_write(w, buf, (size_t)n, err);
		if (rc)
			break;
		st->bytes += (uint64_t)n;
	}
	if (!rc && n < 0)
		rc = err_set(err, ERR_INVALID,
			     "bundle entry %s: %s (truncated bundle?)", name,
			     archive_error_string(a));
	if (!rc)
		rc = store_writer_commit(w, err);
	if (rc)
		err_wrap(err, "bundle entry %s: ", name);
	else
		st->blobs++;
	store_writer_free(w);
	free(buf);
	return rc;
}

/* Entry names allowed in a bundle, and what they are. */
enum kind { K_BAD, K_DIR, K_LAYOUT, K_INDEX, K_DESC, K_BLOB };

static enum kind classify(const char *name, struct oci_digest *d)
{
	if (!strncmp(name, "./", 2))
		name += 2;
	if (!strcmp(name, "oci-layout"))
		return K_LAYOUT;
	if (!strcmp(name, "index.json"))
		return K_INDEX;
	if (!strcmp(name, DESC_NAME))
		return K_DESC;
	if (!strcmp(name, "blobs") || !strcmp(name, "blobs/") ||
	    !strcmp(name, "blobs/sha256") || !strcmp(name, "blobs/sha256/") ||
	    !strcmp(name, "blobs/sha512") || !strcmp(name, "blobs/sha512/"))
		return K_DIR;
	if (!strncmp(name, "blobs/sha256/", 13) ||
	    !strncmp(name, "blobs/sha512/", 13)) {
		char ds[OCI_DIGEST_MAX];
		snprintf(ds, sizeof(ds), "%.6s:%s", name + 6, name + 13);
		if (strlen(name + 13) < 129 && !oci_digest_parse(d, ds, NULL))
			return K_BLOB;
	}
	return K_BAD;
}

struct tagjob {
	char repo[OCI_REPO_MAX];
	char tag[OCI_TAG_MAX + 1];
	struct oci_digest top;
	struct dset manifests, blobs;
};

static int need_list(struct dset *out, json_t *arr)
{
	size_t i;
	json_t *v;
	struct oci_digest d;

	json_array_foreach (arr, i, v) {
		if (!json_is_string(v) ||
		    oci_digest_parse(&d, json_string_value(v), NULL))
			return -1;
		dset_add(out, d.str);
	}
	return 0;
}

/* Without our description (a plain OCI layout): what the manifest names,
 * every index child included. */
static int need_walk(const struct store *s, struct tagjob *t,
		     const struct oci_digest *d, int depth)
{
	struct oci_manifest m;
	char *raw = NULL;
	size_t len;

	dset_add(&t->manifests, d->str);
	if (depth > 8 ||
	    store_blob_read(&raw, &len, s, d, OCI_MANIFEST_MAX, NULL))
		return 0; /* missing: reported by the completeness check */
	if (oci_manifest_parse(&m, raw, len, NULL, NULL)) {
		free(raw);
		return 0;
	}
	free(raw);
	if (m.kind == OCI_KIND_INDEX) {
		for (size_t i = 0; i < m.n_manifests; i++)
			need_walk(s, t, &m.manifests[i].digest, depth + 1);
	} else {
		if (m.has_config)
			dset_add(&t->blobs, m.config.digest.str);
		for (size_t i = 0; i < m.n_layers; i++)
			dset_add(&t->blobs, m.layers[i].digest.str);
	}
	oci_manifest_release(&m);
	return 0;
}

static int link_manifest(struct store *s, const char *repo, const char *ds,
			 struct err *err)
{
	struct oci_digest d;
	struct oci_manifest m;
	struct store_ref sr;
	char *raw = NULL;
	size_t len;
	int rc;

	if (oci_digest_parse(&d, ds, err))
		return ERR_INVALID;
	rc = store_blob_read(&raw, &len, s, &d, OCI_MANIFEST_MAX, err);
	if (rc)
		return rc;
	rc = oci_manifest_parse(&m, raw, len, NULL, err);
	free(raw);
	if (rc)
		return err_wrap(err, "%s: ", ds);
	sr.digest = d;
	snprintf(sr.media_type, sizeof(sr.media_type), "%s", m.media_type);
	sr.size = (int64_t)m.raw_len;
	rc = store_manifest_link(s, repo, &sr, err);
	if (!rc && m.has_subject) {
		char *desc = oci_manifest_referrer_json(&m);
		rc = desc ? store_referrer_add(s, repo, &m.subject.digest, &d,
					       desc, err)
			  : ERR_FAIL;
		free(desc);
	}
	oci_manifest_release(&m);
	return rc;
}

int bundle_import(struct store *s, const char *const *paths, size_t n,
		  struct bundle_stats *st, struct err *err)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	struct in r = {paths, n, 0, -1, NULL, err};
	char *index = NULL, *desc = NULL, *layout = NULL;
	size_t index_len = 0, desc_len = 0, layout_len = 0;
	struct tagjob *jobs = NULL;
	size_t n_jobs = 0;
	json_t *ij = NULL, *dj = NULL;
	struct buf missing;
	int rc = 0, hr;

	memset(st, 0, sizeof(*st));
	buf_init(&missing, 64 * 1024);
	r.buf = malloc(CHUNK);
	if (!a || !r.buf) {
		rc = err_set(err, ERR_FAIL, "out of memory");
		goto out;
	}
	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	if (in_next(&r) || archive_read_open2(a, &r, NULL, in_read, NULL,
					      NULL) != ARCHIVE_OK) {
		rc = err->code ? err->code
			       : err_set(err, ERR_INVALID, "%s: %s", paths[0],
					 archive_error_string(a));
		goto out;
	}
	while ((hr = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		const char *name = archive_entry_pathname(e);
		struct oci_digest d;
		enum kind k;
		int ft = archive_entry_filetype(e);

		if (!name)
			name = "";
		k = classify(name, &d);
		if (archive_entry_mode(e) & 07000) {
			rc = err_set(err, ERR_INVALID,
				     "bundle entry %.300s: "
				     "setuid/setgid/sticky bits refused",
				     name);
			break;
		}
		if (k == K_BAD) {
			rc = err_set(err, ERR_INVALID,
				     "bundle entry \"%.300s\": not part of an "
				     "OCI layout (refused)",
				     name);
			break;
		}
		if (k == K_DIR) {
			if (ft != AE_IFDIR) {
				rc = err_set(
				    err, ERR_INVALID,
				    "bundle entry %.300s: not a directory",
				    name);
				break;
			}
			continue;
		}
		if (ft != AE_IFREG || archive_entry_hardlink(e) ||
		    archive_entry_symlink(e)) {
			rc = err_set(err, ERR_INVALID,
				     "bundle entry %.300s: links and special "
				     "files are refused",
				     name);
			break;
		}
		if (k == K_BLOB)
			rc = import_blob(a, e, s, name, &d, st, err);
		else if (k == K_INDEX && !index)
			rc = read_small(a, e, INDEX_MAX, &index, &index_len,
					name, err);
		else if (k == K_DESC && !desc)
			rc = read_small(a, e, DESC_MAX, &desc, &desc_len, name,
					err);
		else if (k == K_LAYOUT && !layout)
			rc = read_small(a, e, SMALL_MAX, &layout, &layout_len,
					name, err);
		else
			rc = err_set(err, ERR_INVALID,
				     "bundle entry %.300s appears twice", name);
		if (rc)
			break;
	}
	if (!rc && hr != ARCHIVE_EOF)
		rc = err->code ? err->code
			       : err_set(err, ERR_INVALID,
					 "%s: %s (truncated or corrupt bundle, "
					 "or a part missing)",
					 paths[r.cur ? r.cur - 1 : 0],
					 archive_error_string(a));
	if (!rc && r.cur < n)
		rc = err_set(err, ERR_INVALID,
			     "%s: the bundle ended before this part",
			     paths[r.cur]);
	if (rc)
		goto out;
	if (!layout || !index) {
		rc = err_set(err, ERR_INVALID,
			     "bundle has no %s: not an OCI layout",
			     !layout ? "oci-layout" : "index.json");
		goto out;
	}
	ij = json_loadb(index, index_len, JSON_REJECT_DUPLICATES, NULL);
	if (desc)
		dj = json_loadb(desc, desc_len, 0, NULL);
	if (!json_is_array(json_object_get(ij, "manifests"))) {
		rc = err_set(err, ERR_INVALID,
			     "bundle index.json: no manifests list");
		goto out;
	}
	{
		json_t *mans = json_object_get(ij, "manifests"), *m;
		size_t i;

		jobs = calloc(json_array_size(mans) + 1, sizeof(*jobs));
		if (!jobs) {
			rc = err_set(err, ERR_FAIL, "out of memory");
			goto out;
		}
		json_array_foreach (mans, i, m) {
			json_t *ann = json_object_get(m, "annotations");
			const char *rn = json_string_value(
			    json_object_get(ann, ANN_REF_NAME));
			const char *rr =
			    json_string_value(json_object_get(ann, ANN_REPO));
			const char *ds =
			    json_string_value(json_object_get(m, "digest"));
			struct tagjob *t = &jobs[n_jobs];

			if (!ds || oci_digest_parse(&t->top, ds, NULL)) {
				rc = err_set(err, ERR_INVALID,
					     "bundle index.json: "
					     "manifests[%zu]: bad digest",
					     i);
				goto out;
			}
			if (rn) {
				if (split_ref(rn, t->repo, t->tag)) {
					rc = err_set(err, ERR_INVALID,
						     "bundle index.json: "
						     "manifests[%zu]: bad "
						     "reference \"%.300s\"",
						     i, rn);
					goto out;
				}
			} else if (rr && store_repo_valid(rr)) {
				snprintf(t->repo, sizeof(t->repo), "%s", rr);
			} else {
				continue; /* not ours to place */
			}
			n_jobs++;
			if (rn && dj) {
				json_t *refs =
					   json_object_get(dj, "references"),
				       *x;
				size_t q;
				json_array_foreach (refs, q, x) {
					if (json_is_string(
						json_object_get(x, "ref")) &&
					    !strcmp(
						json_string_value(
						    json_object_get(x, "ref")),
						rn)) {
						if (need_list(
							&t->manifests,
							json_object_get(
							    x, "manifests")) ||
						    need_list(
							&t->blobs,
							json_object_get(
							    x, "blobs"))) {
							rc = err_set(
							    err, ERR_INVALID,
							    "bundle "
							    "description: bad "
							    "digest list for "
							    "%.300s",
							    rn);
							goto out;
						}
					}
				}
			}
			if (!t->manifests.n)
				need_walk(s, t, &t->top, 0);
			dset_add(&t->manifests, t->top.str);
			dset_sort(&t->manifests);
			dset_sort(&t->blobs);
		}
	}
	/* every reference complete, or no tag moves */
	for (size_t i = 0; i < n_jobs; i++) {
		struct dset *sets[2] = {&jobs[i].manifests, &jobs[i].blobs};
		for (int k = 0; k < 2; k++)
			for (size_t q = 0; q < sets[k]->n; q++) {
				struct oci_digest d;
				if (!oci_digest_parse(&d, sets[k]->v[q],
						      NULL) &&
				    !store_blob_exists(NULL, s, &d) &&
				    !strstr(missing.data, d.str))
					buf_printf(&missing, "%s%s",
						   missing.len ? ", " : "",
						   d.str);
			}
	}
	if (missing.len) {
		rc = err_set(
		    err, ERR_NOT_FOUND,
		    "bundle is incomplete for this store (a delta against "
		    "another base?); no tag moved; missing: %.800s",
		    missing.data);
		goto out;
	}
	for (size_t i = 0; i < n_jobs && !rc; i++) {
		struct tagjob *t = &jobs[i];
		for (size_t q = 0; q < t->blobs.n && !rc; q++) {
			struct oci_digest d;
			if (!oci_digest_parse(&d, t->blobs.v[q], err))
				rc = store_blob_link(s, t->repo, &d, err);
		}
		for (size_t q = 0; q < t->manifests.n && !rc; q++)
			rc = link_manifest(s, t->repo, t->manifests.v[q], err);
	}
	for (size_t i = 0; i < n_jobs && !rc; i++) {
		struct tagjob *t = &jobs[i];
		struct store_ref sr;

		if (!t->tag[0])
			continue;
		rc = store_manifest_get(&sr, s, t->repo, &t->top, err);
		if (!rc)
			rc = store_tag_set(s, t->repo, t->tag, &sr, err);
		if (!rc)
			st->refs++;
	}
	st->parts = n;
out:
	if (a)
		archive_read_free(a);
	if (r.fd >= 0)
		close(r.fd);
	free(r.buf);
	for (size_t i = 0; jobs && i < n_jobs + 1; i++) {
		dset_release(&jobs[i].manifests);
		dset_release(&jobs[i].blobs);
	}
	free(jobs);
	json_decref(ij);
	json_decref(dj);
	free(index);
	free(desc);
	free(layout);
	buf_release(&missing);
	return rc;
}

/* ---- inventory ---- */

static int inv_tag(void *ctx, const char *repo, const char *tag,
		   const struct store_ref *ref)
{
	json_t *tags = ctx, *r;

	if (!tag)
		return 0;
	r = json_object_get(tags, repo);
	if (!r) {
		r = json_object();
		json_object_set_new(tags, repo, r);
	}
	json_object_set_new(r, tag, json_string(ref->digest.str));
	return 0;
}

struct inv_blobs {
	json_t *blobs;
	struct bundle_stats *st;
};

static int inv_blob(void *ctx, const struct oci_digest *d, int64_t size)
{
	struct inv_blobs *ib = ctx;

	(void)size;
	json_array_append_new(ib->blobs, json_string(d->str));
	ib->st->blobs++;
	return 0;
}

int bundle_inventory(const struct store *s, const char *path,
		     struct bundle_stats *st, struct err *err)
{
	json_t *blobs = json_array(), *tags = json_object(), *j;
	char tmp[4300], ts[32];
	struct inv_blobs ib = {blobs, st};
	int rc = 0;

	memset(st, 0, sizeof(*st));
	rc = store_blobs_each(s, inv_blob, &ib, err);
	if (!rc)
		rc = walk_tags(s, NULL, inv_tag, tags, err);
	if (rc) {
		json_decref(blobs);
		json_decref(tags);
		return err_wrap(err, "inventory %s: ", path);
	}
	j = json_pack("{s:s,s:s,s:s,s:o,s:o}", "schema",
		      "ocimirror-inventory/1", "tool", TOOL_VERSION, "created",
		      now_iso(ts, sizeof(ts)), "blobs", blobs, "tags", tags);
	snprintf(tmp, sizeof(tmp), "%s.tmp-%d", path, (int)getpid());
	if (!j || json_dump_file(j, tmp, JSON_COMPACT | JSON_SORT_KEYS) ||
	    rename(tmp, path)) {
		rc = err_set(err, ERR_FAIL, "write %s: %s", path,
			     strerror(errno));
		unlink(tmp);
	}
	json_decref(j);
	return rc;
}
