#include "mirror/bundle.h"

#include <archive.h>
#include <archive_entry.h>
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

#include "mirror/bundle_format.h"
#include "mirror/store/walk.h"
#include "mirror/dset.h"
#include "mirror/inventory.h"
#include "oci/manifest.h"
#include "oci/mediatype.h"
#include "oci/ref.h"
#include "oci/vec.h"

/* ---- what a reference needs ---- */

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
	int64_t *size;	 /* per all.v[i]: its size; -1: left out (--since) */
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

/* Remember manifest m (digest d) as a referrer of the reference planned. */
static int plan_referrer(struct walk_ctx *w, const struct oci_digest *d,
			 const struct oci_manifest *m)
{
	struct plan *p = w->p;
	struct referrer *r;

	if (OCI_VEC_RESERVE(p->rfs, p->n_rfs, p->cap_rfs, 1, 0))
		return err_set(w->err, ERR_FAIL,
			       "%s: out of memory listing referrer %s",
			       w->rp->ref, d->str);
	r = &p->rfs[p->n_rfs++];
	snprintf(r->repo, sizeof(r->repo), "%s", w->rp->repo);
	r->digest = *d;
	snprintf(r->media_type, sizeof(r->media_type), "%s", m->media_type);
	r->size = (int64_t)m->raw_len;
	return 0;
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
					      m.config.digest.str, w->err);
		}
		for (size_t i = 0; i < m.n_layers && !rc; i++) {
			int present =
			    store_blob_exists(NULL, w->s, &m.layers[i].digest);
			if (!present && oci_mediatype_is_nondistributable(
					    m.layers[i].media_type))
				continue; /* lives at its urls */
			if (!present)
				rc = err_set(
				    w->err, ERR_NOT_FOUND,
				    "%s: layer %s missing from the store",
				    w->rp->ref, m.layers[i].digest.str);
			else
				rc = dset_add(&w->rp->blobs,
					      m.layers[i].digest.str, w->err);
		}
	}
	if (!rc)
		rc = dset_add(&w->rp->manifests, d->str, w->err);
	if (!rc && referrer)
		rc = plan_referrer(w, d, &m);
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
	if (OCI_VEC_RESERVE(p->refs, p->n, p->cap, 1, 0))
		return NULL;
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
	free(p->size);
	dset_release(&p->all);
	memset(p, 0, sizeof(*p));
}

static int plan_ref(const struct store *s, struct plan *p, const char *ref,
		    struct err *err)
{
	struct refplan *rp = plan_add(p);
	char tag[OCI_TAG_MAX + 1];
	struct walk_ctx w;
	int rc;

	if (!rp)
		return err_set(err, ERR_FAIL, "%s: out of memory", ref);
	snprintf(rp->ref, sizeof(rp->ref), "%s", ref);
	if (bundle_ref_split(ref, rp->repo, tag))
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
	for (size_t i = 0; i < rp->manifests.n && !rc; i++)
		rc = dset_add(&p->all, rp->manifests.v[i], err);
	for (size_t i = 0; i < rp->blobs.n && !rc; i++)
		rc = dset_add(&p->all, rp->blobs.v[i], err);
	if (rc)
		return err_wrap(err, "%s: ", ref);
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
	int opened; /* a temp part was created (out_abort removes them) */
	/* compression on our side of the archive: libarchive's zstd filter
	 * holds ~100 MiB; a streaming context with bounded jobs does not */
	ZSTD_CCtx *z;
	char *zbuf;
	size_t zcap;
};

/* Part k's final and temp names (k 0 when not split). */
static void out_names(const struct out *o, int k, char *final, char *tmp,
		      size_t cap)
{
	if (k)
		snprintf(final, cap, "%s.part-%04d", o->path, k);
	else
		snprintf(final, cap, "%s", o->path);
	snprintf(tmp, cap, "%s.tmp-%d", final, (int)getpid());
}

/* The part written now, complete: flushed and closed under its temp name
 * (renamed by out_commit once the whole bundle is written). */
static int out_close_part(struct out *o)
{
	int rc = 0;

	if (o->fd < 0)
		return 0;
	if (fsync(o->fd))
		rc = ERR_FAIL;
	if (close(o->fd))
		rc = ERR_FAIL;
	o->fd = -1;
	if (rc)
		err_set(o->err, ERR_FAIL, "write %s: %s", o->tmp,
			strerror(errno));
	return rc;
}

/* Where an earlier file at part k's final name waits until the new
 * bundle is complete. */
static void out_aside(char *dst, size_t cap, const char *final)
{
	snprintf(dst, cap, "%s.old-%d", final, (int)getpid());
}

/* Every part under its final name. An earlier bundle's file at one of
 * those names is first kept aside (a hard link, or a rename where the
 * filesystem has no links); when a part cannot be renamed, the parts
 * renamed before it are taken back and every earlier file is restored,
 * so the earlier bundle survives whole (out_abort removes the temp
 * parts). After success the kept files are removed. */
static int out_commit(struct out *o)
{
	int first = o->split ? 1 : 0, last = o->split ? o->part : 0;
	char final[sizeof(o->final)], tmp[sizeof(o->tmp)];
	char aside[sizeof(o->final) + 32];
	char *kept = calloc((size_t)last + 1, 1);
	int rc = 0, renamed = first; /* parts first..renamed-1 moved */

	if (!kept)
		return err_set(o->err, ERR_FAIL, "%s: out of memory", o->path);
	for (int k = first; k <= last && !rc; k++) {
		struct stat st;

		out_names(o, k, final, tmp, sizeof(final));
		if (lstat(final, &st) || !S_ISREG(st.st_mode))
			continue; /* absent, or not ours to move: rename says */
		out_aside(aside, sizeof(aside), final);
		unlink(aside);
		if (!link(final, aside) || !rename(final, aside))
			kept[k] = 1;
		else
			rc = err_set(o->err, ERR_FAIL,
				     "keep %s aside as %s: %s; nothing "
				     "replaced",
				     final, aside, strerror(errno));
	}
	for (int k = first; k <= last && !rc; k++) {
		out_names(o, k, final, tmp, sizeof(final));
		if (rename(tmp, final))
			rc = err_set(o->err, ERR_FAIL, "rename %s to %s: %s",
				     tmp, final, strerror(errno));
		else
			renamed = k + 1;
	}
	for (int k = first; k <= last; k++) {
		out_names(o, k, final, tmp, sizeof(final));
		out_aside(aside, sizeof(aside), final);
		if (!rc && kept[k])
			unlink(aside);
		else if (rc && kept[k])
			rename(aside, final);
		else if (rc && k < renamed)
			unlink(final);
	}
	free(kept);
	return rc;
}

/* A failed export: every temp part removed, nothing under a final name. */
static void out_abort(struct out *o)
{
	int last = o->split ? o->part : 0;

	if (o->fd >= 0)
		close(o->fd);
	o->fd = -1;
	if (!o->opened)
		return;
	for (int k = o->split ? 1 : 0; k <= last; k++) {
		char final[sizeof(o->final)], tmp[sizeof(o->tmp)];

		out_names(o, k, final, tmp, sizeof(final));
		unlink(tmp);
	}
}

static int out_open_part(struct out *o)
{
	if (o->split)
		o->part++;
	out_names(o, o->split ? o->part : 0, o->final, o->tmp,
		  sizeof(o->final));
	o->fd = open(o->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	o->in_part = 0;
	if (o->fd < 0)
		return err_set(o->err, ERR_FAIL, "create %s: %s", o->tmp,
			       strerror(errno));
	o->opened = 1;
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

/* A stored blob that is not what its name says: the export stops. */
static int blob_corrupt(struct err *err, const struct oci_digest *d,
			const char *what)
{
	return err_set(err, ERR_DIGEST,
		       "blob %s in the store is corrupt (%s); export stopped, "
		       "no bundle written; run `ocimirror verify`",
		       d->str, what);
}

/* Blob d (size bytes, as listed in the description) into the archive,
 * hashed while it streams: a stored blob whose bytes do not match its
 * digest or the size listed fails the export (ERR_DIGEST). */
static int add_blob(struct archive *a, const struct store *s,
		    const struct oci_digest *d, int64_t listed, uint64_t *bytes,
		    struct err *err)
{
	struct archive_entry *e;
	struct oci_hasher h;
	struct oci_digest got;
	char name[OCI_DIGEST_MAX + 16], *buf, what[OCI_DIGEST_MAX + 64];
	int64_t size;
	int fd, rc;

	rc = store_blob_open(&fd, &size, s, d, err);
	if (rc)
		return rc;
	if (size != listed) {
		snprintf(what, sizeof(what), "%lld bytes, %lld a moment before",
			 (long long)size, (long long)listed);
		close(fd);
		return blob_corrupt(err, d, what);
	}
	if (oci_hasher_init(&h, d->alg)) {
		close(fd);
		return err_set(err, ERR_FAIL, "blob %s: hash init failed",
			       d->str);
	}
	buf = malloc(BUNDLE_CHUNK);
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
		ssize_t r = read(
		    fd, buf, left > BUNDLE_CHUNK ? BUNDLE_CHUNK : (size_t)left);
		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			rc = r ? err_set(err, ERR_FAIL, "read blob %s: %s",
					 d->str, strerror(errno))
			       : blob_corrupt(err, d, "shorter than its size");
			goto out;
		}
		oci_hasher_update(&h, buf, (size_t)r);
		if (archive_write_data(a, buf, (size_t)r) != r) {
			rc = err->code ? err->code
				       : err_set(err, ERR_FAIL, "bundle %s: %s",
						 name, archive_error_string(a));
			goto out;
		}
		left -= r;
		*bytes += (uint64_t)r;
	}
	oci_hasher_final(&h, &got);
	if (!oci_digest_equal(&got, d)) {
		snprintf(what, sizeof(what), "its content is %s", got.str);
		rc = blob_corrupt(err, d, what);
	}
out:
	oci_hasher_release(&h);
	archive_entry_free(e);
	free(buf);
	close(fd);
	return rc;
}

/* ---- the export, step by step ---- */

/* The references to export (every tag with o->all) and, with o->since,
 * the blobs the other side already holds. */
static int export_plan(struct plan *p, struct dset *since, char **since_id,
		       struct store *s, const struct bundle_export_options *o,
		       struct err *err)
{
	int rc = 0;

	if (o->since) {
		rc = inventory_load(since, since_id, o->since, err);
		if (rc)
			return rc;
	}
	if (o->all) {
		struct all_ctx ac = {s, p, err, 0};

		rc = walk_tags(s, NULL, plan_all_cb, &ac, err);
		if (ac.rc)
			rc = ac.rc;
	} else {
		for (size_t i = 0; i < o->n_refs && !rc; i++)
			rc = plan_ref(s, p, o->refs[i], err);
	}
	if (rc)
		return rc;
	if (!p->n)
		return err_set(err, ERR_NOT_FOUND,
			       "nothing to export: the store holds no tag");
	dset_sort(&p->all);
	return 0;
}

/* zstd on our side of the archive, unless the name ends in ".tar" (or
 * o->compress says otherwise). */
static int export_compressor(struct out *out, const char *path,
			     const struct bundle_export_options *o,
			     struct err *err)
{
	size_t plen = strlen(path);
	int compress = o->compress;
	long ncpu;

	if (compress < 0)
		compress = !(plen > 4 && !strcmp(path + plen - 4, ".tar"));
	if (!compress)
		return 0;
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	out->z = ZSTD_createCCtx();
	out->zcap = ZSTD_CStreamOutSize();
	out->zbuf = malloc(out->zcap);
	if (!out->z || !out->zbuf)
		return err_set(err, ERR_FAIL, "%s: out of memory", path);
	ZSTD_CCtx_setParameter(out->z, ZSTD_c_compressionLevel,
			       o->level > 0 ? o->level : 3);
	/* multi-threaded (when libzstd was built so) with 2 MiB jobs:
	 * memory stays near 35 MiB whatever the bundle size */
	ZSTD_CCtx_setParameter(out->z, ZSTD_c_nbWorkers,
			       ncpu > 1 ? (int)ncpu : 0);
	ZSTD_CCtx_setParameter(out->z, ZSTD_c_jobSize, 2 << 20);
	return 0;
}

/* What the bundle holds: every planned blob the inventory does not
 * list, with its size; stats count them (and those left out). */
static int export_contents(struct plan *p, struct dset *since,
			   const struct store *s, struct bundle_stats *stats,
			   struct err *err)
{
	p->size = calloc(p->all.n + 1, sizeof(*p->size));
	if (!p->size)
		return err_set(err, ERR_FAIL, "out of memory for %zu blobs",
			       p->all.n);
	for (size_t i = 0; i < p->all.n; i++) {
		struct oci_digest d;

		if (oci_digest_parse(&d, p->all.v[i], err))
			return ERR_INVALID;
		p->size[i] = -1;
		if (dset_has(since, d.str)) {
			stats->blobs_skipped++;
			continue;
		}
		if (!store_blob_exists(&p->size[i], s, &d))
			return err_set(err, ERR_NOT_FOUND,
				       "blob %s: gone from the store while "
				       "exporting",
				       d.str);
		stats->blobs++;
		stats->bytes += (uint64_t)p->size[i];
	}
	return 0;
}

/* Every blob export_contents listed, in its order. */
static int export_blobs(struct archive *a, struct store *s, struct plan *p,
			struct err *err)
{
	uint64_t bytes = 0;
	int rc = 0;

	for (size_t i = 0; i < p->all.n && !rc; i++) {
		struct oci_digest d;

		if (p->size[i] < 0)
			continue;
		if (oci_digest_parse(&d, p->all.v[i], err))
			return ERR_INVALID;
		rc = add_blob(a, s, &d, p->size[i], &bytes, err);
	}
	return rc;
}

/* The description's list of the blobs that follow it. */
static json_t *contents_json(const struct plan *p)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < p->all.n; i++)
		if (p->size[i] >= 0)
			json_array_append_new(
			    arr, json_pack("{s:s,s:I}", "digest", p->all.v[i],
					   "size", (json_int_t)p->size[i]));
	return arr;
}

static json_t *strings_json(const struct dset *d)
{
	json_t *arr = json_array();

	for (size_t k = 0; k < d->n; k++)
		json_array_append_new(arr, json_string(d->v[k]));
	return arr;
}

/* index.json: tags with their full reference; referrers untagged, with
 * their repository. */
static json_t *index_json(const struct plan *p)
{
	json_t *index, *mans;

	index = json_pack("{s:i,s:s,s:[]}", "schemaVersion", 2, "mediaType",
			  MT_OCI_INDEX, "manifests");
	mans = json_object_get(index, "manifests");
	for (size_t i = 0; i < p->n; i++) {
		const struct refplan *rp = &p->refs[i];

		json_array_append_new(
		    mans,
		    json_pack("{s:s,s:s,s:I,s:{s:s}}", "mediaType",
			      rp->top.media_type, "digest", rp->top.digest.str,
			      "size", (json_int_t)rp->top.size, "annotations",
			      ANN_REF_NAME, rp->ref));
	}
	for (size_t i = 0; i < p->n_rfs; i++)
		json_array_append_new(
		    mans, json_pack("{s:s,s:s,s:I,s:{s:s}}", "mediaType",
				    p->rfs[i].media_type, "digest",
				    p->rfs[i].digest.str, "size",
				    (json_int_t)p->rfs[i].size, "annotations",
				    BUNDLE_ANN_REPO, p->rfs[i].repo));
	return index;
}

/* ocimirror-bundle.json: what each reference needs, and the counts. */
static json_t *desc_json(const struct plan *p, const struct bundle_stats *stats,
			 const char *since, const char *since_id)
{
	json_t *refs = json_array(), *desc;
	char ts[32];

	for (size_t i = 0; i < p->n; i++) {
		const struct refplan *rp = &p->refs[i];

		json_array_append_new(
		    refs, json_pack("{s:s,s:s,s:o,s:o}", "ref", rp->ref,
				    "digest", rp->top.digest.str, "manifests",
				    strings_json(&rp->manifests), "blobs",
				    strings_json(&rp->blobs)));
	}
	desc = json_pack("{s:s,s:s,s:o,s:I,s:I,s:I,s:o}", "tool",
			 BUNDLE_TOOL_VERSION, "created",
			 bundle_now_iso(ts, sizeof(ts)), "references", refs,
			 "blobs", (json_int_t)stats->blobs, "bytes",
			 (json_int_t)stats->bytes, "blobsLeftOut",
			 (json_int_t)stats->blobs_skipped, BUNDLE_CONTENTS_KEY,
			 contents_json(p));
	if (desc && since)
		json_object_set_new(desc, "since",
				    json_pack("{s:s,s:s?}", "inventory", since,
					      "created", since_id));
	return desc;
}

static int add_json(struct archive *a, const char *name, json_t *j,
		    size_t flags, struct err *err)
{
	char *text = j ? json_dumps(j, flags) : NULL;
	int rc;

	if (!text)
		return err_set(err, ERR_FAIL, "bundle %s: out of memory", name);
	rc = add_file(a, name, text, strlen(text), err);
	free(text);
	return rc;
}

/* The archive to path (parts when o->split), opened on out. */
static int export_open(struct archive **a_out, struct out *out,
		       const char *path, const struct bundle_export_options *o,
		       struct err *err)
{
	struct archive *a;
	int rc;

	rc = export_compressor(out, path, o, err);
	if (rc)
		return rc;
	a = *a_out = archive_write_new();
	if (!a)
		return err_set(err, ERR_FAIL, "%s: out of memory", path);
	archive_write_set_format_pax_restricted(a);
	archive_write_set_bytes_in_last_block(a, 1);
	out->path = path;
	out->split = o->split;
	out->err = err;
	if (archive_write_open2(a, out, NULL, out_write, NULL, NULL) !=
	    ARCHIVE_OK)
		return err->code ? err->code
				 : err_set(err, ERR_FAIL, "%s: %s", path,
					   archive_error_string(a));
	return 0;
}

/* End the archive, the compressed stream and the last part. */
static int export_close(struct archive *a, struct out *out, const char *path,
			struct err *err)
{
	int rc;

	if (archive_write_close(a) != ARCHIVE_OK || out->failed)
		return err->code ? err->code
				 : err_set(err, ERR_FAIL, "%s: %s", path,
					   archive_error_string(a));
	rc = out_finish(out);
	if (!rc)
		rc = out_close_part(out);
	if (!rc)
		rc = out_commit(out);
	return rc;
}

int bundle_export(struct store *s, struct bundle_stats *stats, const char *path,
		  const struct bundle_export_options *o, struct err *err)
{
	struct plan p;
	struct dset since = {0};
	struct archive *a = NULL;
	struct out out;
	json_t *index = NULL, *desc = NULL;
	char *since_id = NULL;
	int rc;

	memset(&p, 0, sizeof(p));
	memset(stats, 0, sizeof(*stats));
	memset(&out, 0, sizeof(out));
	out.fd = -1;
	rc = export_plan(&p, &since, &since_id, s, o, err);
	if (!rc)
		rc = export_contents(&p, &since, s, stats, err);
	/* what the bundle holds comes first, so that an import knows it
	 * before the first blob: oci-layout, index.json, the description
	 * with its list of blobs, then the blobs */
	if (!rc)
		rc = export_open(&a, &out, path, o, err);
	if (!rc)
		rc = add_file(a, "oci-layout",
			      "{\"imageLayoutVersion\":\"1.0.0\"}", 30, err);
	if (!rc) {
		index = index_json(&p);
		rc = add_json(a, "index.json", index, JSON_COMPACT, err);
	}
	if (!rc) {
		desc = desc_json(&p, stats, o->since, since_id);
		rc = add_json(a, BUNDLE_DESC_NAME, desc,
			      JSON_COMPACT | JSON_SORT_KEYS, err);
	}
	if (!rc)
		rc = export_blobs(a, s, &p, err);
	if (!rc)
		rc = export_close(a, &out, path, err);
	if (!rc) {
		stats->refs = p.n;
		stats->parts = out.split ? (size_t)out.part : 1;
	}
	if (a)
		archive_write_free(a);
	if (rc)
		out_abort(&out);
	ZSTD_freeCCtx(out.z);
	free(out.zbuf);
	json_decref(index);
	json_decref(desc);
	free(since_id);
	dset_release(&since);
	plan_release(&p);
	return rc;
}
