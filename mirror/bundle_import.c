#include "mirror/bundle.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mirror/bundle_format.h"
#include "mirror/dset.h"
#include "oci/buf.h"
#include "oci/manifest.h"
#include "oci/mediatype.h"
#include "oci/ref.h"

#define INDEX_MAX (16u * 1024 * 1024)
#define DESC_MAX (64u * 1024 * 1024)
#define SMALL_MAX (64u * 1024)

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
	if (r->fd < 0)
		return err_set(r->err, ERR_NOT_FOUND, "%s: %s",
			       r->paths[r->cur], strerror(errno));
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
		n = read(r->fd, r->buf, BUNDLE_CHUNK);
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

/* n bytes as "N bytes (X.Y MiB)" in buf. */
static const char *bytes_str(char *buf, size_t cap, uint64_t n)
{
	static const char *unit[] = {"KiB", "MiB", "GiB", "TiB"};
	double v = (double)n / 1024;
	int u = 0;

	while (v >= 1024 && u < 3) {
		v /= 1024;
		u++;
	}
	snprintf(buf, cap, "%llu bytes (%.1f %s)", (unsigned long long)n, v,
		 unit[u]);
	return buf;
}

int bundle_space_check(uint64_t need, size_t n_blobs, uint64_t avail,
		       const char *where, struct err *err)
{
	char a[64], b[64];

	if (need <= avail)
		return 0;
	return err_set(err, ERR_TOO_LARGE,
		       "bundle needs %s for %zu new blob%s, the store %s has "
		       "%s free; nothing imported (free space, or import into "
		       "a larger store)",
		       bytes_str(a, sizeof(a), need), n_blobs,
		       n_blobs == 1 ? "" : "s", where,
		       bytes_str(b, sizeof(b), avail));
}

/* Stream the entry into a staged temp file, verified, at most size bytes
 * (what the bundle's list says, or its header); a blob the store already
 * holds is skipped. *staged_out is the staged writer (the caller
 * publishes or frees it), NULL when skipped. With budget, the bytes
 * written come out of *budget, and an entry beyond it is refused before
 * it is written. */
static int import_blob(struct archive *a, struct store *s, const char *name,
		       const struct oci_digest *d, int64_t size,
		       uint64_t *budget, struct store_writer **staged_out,
		       struct bundle_stats *st, struct err *err)
{
	struct store_writer *w = NULL;
	char *buf;
	la_ssize_t n;
	uint64_t got = 0;
	int rc;

	*staged_out = NULL;
	if (store_blob_exists(NULL, s, d)) {
		st->blobs_skipped++;
		return archive_read_data_skip(a) == ARCHIVE_OK
			   ? 0
			   : err_set(err, ERR_INVALID, "bundle entry %s: %s",
				     name, archive_error_string(a));
	}
	if (budget) {
		rc = bundle_space_check((uint64_t)size, 1, *budget, s->root,
					err);
		if (rc)
			return err_wrap(err, "bundle entry %s: ", name);
		*budget -= (uint64_t)size;
	}
	rc = store_writer_open(&w, s, d, size, err);
	if (rc)
		return rc;
	buf = malloc(BUNDLE_CHUNK);
	if (!buf) {
		store_writer_free(w);
		return err_set(err, ERR_FAIL, "bundle entry %s: out of memory",
			       name);
	}
	while ((n = archive_read_data(a, buf, BUNDLE_CHUNK)) > 0) {
		/* never past the size listed: the writer refuses it too.
		 * The header's size agrees with the list (checked before),
		 * yet libarchive hands out more for a GNU sparse entry whose
		 * map puts a block past its realsize (the header's size):
		 * tests/mirror/bundle.c a_sparse_entry_longer_than_... */
		if (got + (uint64_t)n > (uint64_t)size) {
			rc = err_set(err, ERR_INVALID,
				     "more data than the %lld bytes listed; "
				     "refused",
				     (long long)size);
			break;
		}
		rc = store_writer_write(w, buf, (size_t)n, err);
		if (rc)
			break;
		got += (uint64_t)n;
		st->bytes += (uint64_t)n;
	}
	if (!rc && n < 0)
		rc = err_set(err, ERR_INVALID,
			     "bundle entry %s: %s (truncated bundle?)", name,
			     archive_error_string(a));
	if (!rc)
		rc = store_writer_stage(w, err);
	free(buf);
	if (rc) {
		if (!strstr(err->msg, name))
			err_wrap(err, "bundle entry %s: ", name);
		store_writer_free(w);
		return rc;
	}
	st->blobs++;
	*staged_out = w;
	return 0;
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
	if (!strcmp(name, BUNDLE_DESC_NAME))
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
	int64_t top_size; /* index.json's word for it; -1 when absent */
	struct dset manifests, blobs;
};

/* The digests of arr into out: ERR_INVALID for a non-digest (the caller
 * names the list). */
static int need_list(struct dset *out, json_t *arr)
{
	size_t i;
	json_t *v;
	struct oci_digest d;

	json_array_foreach (arr, i, v) {
		if (!json_is_string(v) ||
		    oci_digest_parse(&d, json_string_value(v), NULL))
			return ERR_INVALID;
		if (dset_add(out, d.str, NULL))
			return ERR_FAIL;
	}
	return 0;
}

struct import;
static int im_blob_exists(int64_t *size_out, const struct import *im,
			  const struct oci_digest *d);
static int im_blob_read(char **out, size_t *len_out, const struct import *im,
			const struct oci_digest *d, struct err *err);

/* Without our description (a plain OCI layout): what the manifest names,
 * every index child included. */
static int need_walk(const struct import *im, struct tagjob *t,
		     const struct oci_digest *d, int depth)
{
	struct oci_manifest m;
	char *raw = NULL;
	size_t len;

	dset_add(&t->manifests, d->str, NULL);
	if (depth > 8 || im_blob_read(&raw, &len, im, d, NULL))
		return 0; /* missing: reported by the completeness check */
	if (oci_manifest_parse(&m, raw, len, NULL, NULL)) {
		free(raw);
		return 0;
	}
	free(raw);
	if (m.kind == OCI_KIND_INDEX) {
		for (size_t i = 0; i < m.n_manifests; i++)
			need_walk(im, t, &m.manifests[i].digest, depth + 1);
	} else {
		if (m.has_config)
			dset_add(&t->blobs, m.config.digest.str, NULL);
		for (size_t i = 0; i < m.n_layers; i++)
			if (im_blob_exists(NULL, im, &m.layers[i].digest) ||
			    !oci_mediatype_is_nondistributable(
				m.layers[i].media_type))
				dset_add(&t->blobs, m.layers[i].digest.str,
					 NULL);
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
			  : err_set(err, ERR_FAIL,
				    "%s: out of memory for its referrer record",
				    ds);
		free(desc);
	}
	oci_manifest_release(&m);
	return rc;
}

/* ---- the import, step by step ---- */

/* A blob this import staged. */
struct staged {
	struct oci_digest d;
	struct store_writer *w;
};

/* A blob the description lists, before the blobs come. */
struct listed {
	struct oci_digest d;
	int64_t size;
	int seen;
};

struct import {
	struct store *s;
	struct bundle_stats *st;
	char *index, *desc, *layout; /* the small entries, as read */
	size_t index_len, desc_len, layout_len;
	json_t *ij, *dj; /* index.json, the description (or NULL) */
	struct tagjob *jobs;
	size_t n_jobs;
	int started;	     /* the first blob entry was met */
	struct listed *list; /* sorted by digest; NULL: an older bundle */
	size_t n_list;
	int budgeted;	 /* older bundle: blobs come out of budget */
	uint64_t budget; /* the store's free space, less what was written */
	/* the blobs this import staged (absent from the store before), in
	 * tmp/ until every check passed; sorted by digest once every entry
	 * is read (stage_sorted) */
	struct staged *staged;
	size_t n_staged, cap_staged;
	int stage_sorted;
};

static int listed_cmp(const void *a, const void *b)
{
	return strcmp(((const struct listed *)a)->d.str,
		      ((const struct listed *)b)->d.str);
}

static struct listed *listed_find(const struct import *im,
				  const struct oci_digest *d)
{
	struct listed key = {.d = *d, .size = 0, .seen = 0};

	if (!im->n_list)
		return NULL;
	return bsearch(&key, im->list, im->n_list, sizeof(*im->list),
		       listed_cmp);
}

static int staged_cmp(const void *a, const void *b)
{
	return strcmp(((const struct staged *)a)->d.str,
		      ((const struct staged *)b)->d.str);
}

static int stage_add(struct import *im, const struct oci_digest *d,
		     struct store_writer *w, struct err *err)
{
	if (im->n_staged == im->cap_staged) {
		size_t cap = im->cap_staged ? 2 * im->cap_staged : 64;
		struct staged *v = realloc(im->staged, cap * sizeof(*v));

		if (!v) {
			store_writer_free(w);
			return err_set(err, ERR_FAIL,
				       "bundle: out of memory for %zu blobs",
				       cap);
		}
		im->staged = v;
		im->cap_staged = cap;
	}
	im->staged[im->n_staged].d = *d;
	im->staged[im->n_staged].w = w;
	im->n_staged++;
	im->stage_sorted = 0;
	return 0;
}

/* Sort the staged blobs for lookups, once every entry is read. */
static void stage_sort(struct import *im)
{
	if (im->n_staged)
		qsort(im->staged, im->n_staged, sizeof(*im->staged),
		      staged_cmp);
	im->stage_sorted = 1;
}

static const struct staged *stage_find(const struct import *im,
				       const struct oci_digest *d)
{
	struct staged key;

	if (!im->n_staged || !im->stage_sorted)
		return NULL;
	key.d = *d;
	key.w = NULL;
	return bsearch(&key, im->staged, im->n_staged, sizeof(*im->staged),
		       staged_cmp);
}

/* 1 when d is staged by this import or stored (*size_out set). */
static int im_blob_exists(int64_t *size_out, const struct import *im,
			  const struct oci_digest *d)
{
	const struct staged *x = stage_find(im, d);

	if (x) {
		if (size_out)
			*size_out = (int64_t)store_writer_offset(x->w);
		return 1;
	}
	return store_blob_exists(size_out, im->s, d);
}

/* A manifest-sized blob, staged by this import or stored. */
static int im_blob_read(char **out, size_t *len_out, const struct import *im,
			const struct oci_digest *d, struct err *err)
{
	const struct staged *x = stage_find(im, d);

	if (x)
		return store_writer_staged_read(out, len_out, x->w,
						OCI_MANIFEST_MAX, err);
	return store_blob_read(out, len_out, im->s, d, OCI_MANIFEST_MAX, err);
}

/* The small JSON entries parsed, once each; their parse error named. */
static int parse_small(struct import *im, struct err *err)
{
	json_error_t je;

	if (im->index && !im->ij) {
		im->ij = json_loadb(im->index, im->index_len,
				    JSON_REJECT_DUPLICATES, &je);
		if (!im->ij)
			return err_set(err, ERR_INVALID,
				       "bundle index.json: not valid JSON: "
				       "%s (line %d, column %d)",
				       je.text, je.line, je.column);
	}
	if (im->desc && !im->dj) {
		im->dj = json_loadb(im->desc, im->desc_len, 0, &je);
		if (!im->dj)
			return err_set(err, ERR_INVALID,
				       "bundle " BUNDLE_DESC_NAME
				       ": not valid JSON: %s (line %d, "
				       "column %d)",
				       je.text, je.line, je.column);
	}
	return 0;
}

/* The description's list of blobs, sorted; ERR_INVALID for an entry
 * without a digest and size, or listed twice. */
static int list_load(struct import *im, json_t *arr, struct err *err)
{
	size_t i;
	json_t *v;

	if (!json_is_array(arr))
		return err_set(err, ERR_INVALID,
			       "bundle " BUNDLE_DESC_NAME
			       ": \"" BUNDLE_CONTENTS_KEY "\" is not a list");
	im->list = calloc(json_array_size(arr) + 1, sizeof(*im->list));
	if (!im->list)
		return err_set(err, ERR_FAIL,
			       "bundle " BUNDLE_DESC_NAME
			       ": out of memory for %zu blobs",
			       json_array_size(arr));
	json_array_foreach (arr, i, v) {
		const char *ds =
		    json_string_value(json_object_get(v, "digest"));
		json_t *sz = json_object_get(v, "size");
		struct listed *l = &im->list[i];

		if (!ds || oci_digest_parse(&l->d, ds, NULL) ||
		    !json_is_integer(sz) || json_integer_value(sz) < 0)
			return err_set(err, ERR_INVALID,
				       "bundle " BUNDLE_DESC_NAME
				       ": " BUNDLE_CONTENTS_KEY
				       "[%zu]: want a digest and a size",
				       i);
		l->size = (int64_t)json_integer_value(sz);
	}
	im->n_list = json_array_size(arr);
	qsort(im->list, im->n_list, sizeof(*im->list), listed_cmp);
	for (i = 1; i < im->n_list; i++)
		if (!strcmp(im->list[i].d.str, im->list[i - 1].d.str))
			return err_set(err, ERR_INVALID,
				       "bundle " BUNDLE_DESC_NAME
				       ": %s listed twice",
				       im->list[i].d.str);
	return 0;
}

/* At the first blob entry: what came before it parsed; with the list
 * (bundles since the list was added carry it before their blobs), the
 * bytes of every new blob against the store's free space, up front.
 * Without it (an older bundle, index.json last), each blob is checked
 * against what is left of the free space as it comes. */
static int import_start(struct import *im, struct err *err)
{
	json_t *arr;
	uint64_t need = 0, avail;
	size_t n_new = 0;
	int rc;

	im->started = 1;
	rc = parse_small(im, err);
	if (rc)
		return rc;
	arr = im->dj ? json_object_get(im->dj, BUNDLE_CONTENTS_KEY) : NULL;
	if (!arr) {
		im->budgeted = store_space_free(&im->budget, im->s, NULL) == 0;
		return 0;
	}
	rc = list_load(im, arr, err);
	if (rc)
		return rc;
	for (size_t i = 0; i < im->n_list; i++) {
		uint64_t size = (uint64_t)im->list[i].size;

		if (store_blob_exists(NULL, im->s, &im->list[i].d))
			continue;
		if (size > UINT64_MAX - need)
			return err_set(err, ERR_TOO_LARGE,
				       "bundle " BUNDLE_DESC_NAME
				       ": the sizes of its new blobs add up "
				       "to more than %llu bytes; refused, "
				       "nothing imported",
				       (unsigned long long)UINT64_MAX);
		need += size;
		n_new++;
	}
	if (store_space_free(&avail, im->s, NULL))
		return 0; /* the backend cannot tell */
	return bundle_space_check(need, n_new, avail, im->s->root, err);
}

/* A blob entry: listed (with the size the list gives) when the bundle
 * lists its blobs, refused before a byte is written otherwise. */
static int import_entry_blob(struct archive *a, struct archive_entry *e,
			     struct import *im, const char *name,
			     const struct oci_digest *d, struct err *err)
{
	struct listed *l;
	struct store_writer *w;
	int64_t size;
	int rc;

	if (!im->started) {
		rc = import_start(im, err);
		if (rc)
			return rc;
	}
	if (!archive_entry_size_is_set(e) || archive_entry_size(e) < 0)
		return err_set(err, ERR_INVALID, "bundle entry %s: no size",
			       name);
	size = archive_entry_size(e);
	if (im->list) {
		l = listed_find(im, d);
		if (!l)
			return err_set(
			    err, ERR_INVALID,
			    "bundle entry %s: not listed in " BUNDLE_DESC_NAME
			    "; refused",
			    name);
		if (l->seen)
			return err_set(err, ERR_INVALID,
				       "bundle entry %.300s appears twice",
				       name);
		if (size != l->size)
			return err_set(
			    err, ERR_INVALID,
			    "bundle entry %s: %lld bytes, " BUNDLE_DESC_NAME
			    " lists %lld; refused",
			    name, (long long)size, (long long)l->size);
		l->seen = 1;
	}
	/* a blob entry twice in an unlisted bundle is staged twice (both
	 * verified; publishing the second renames the same bytes over the
	 * first): lookups wait until every entry is read */
	rc = import_blob(a, im->s, name, d, size,
			 im->budgeted ? &im->budget : NULL, &w, im->st, err);
	if (!rc && w)
		rc = stage_add(im, d, w, err);
	return rc;
}

/* Every check on an entry's header, before any of its data is read: a
 * name of the OCI layout, no setuid/setgid/sticky bits, directories only
 * where the layout has them, regular files everywhere else (no links, no
 * devices). */
static int check_entry(struct archive_entry *e, const char *name,
		       enum kind *kind_out, struct oci_digest *d,
		       struct err *err)
{
	int ft = archive_entry_filetype(e);
	enum kind k = classify(name, d);

	*kind_out = k;
	if (archive_entry_mode(e) & 07000)
		return err_set(err, ERR_INVALID,
			       "bundle entry %.300s: "
			       "setuid/setgid/sticky bits refused",
			       name);
	if (k == K_BAD)
		return err_set(err, ERR_INVALID,
			       "bundle entry \"%.300s\": not part of an "
			       "OCI layout (refused)",
			       name);
	if (k == K_DIR)
		return ft == AE_IFDIR
			   ? 0
			   : err_set(err, ERR_INVALID,
				     "bundle entry %.300s: not a directory",
				     name);
	if (ft != AE_IFREG || archive_entry_hardlink(e) ||
	    archive_entry_symlink(e))
		return err_set(err, ERR_INVALID,
			       "bundle entry %.300s: links and special "
			       "files are refused",
			       name);
	return 0;
}

/* The data of one checked entry: a blob into the store, the small files
 * into memory, each at most once. */
static int read_entry(struct archive *a, struct archive_entry *e,
		      struct import *im, enum kind k, const char *name,
		      const struct oci_digest *d, struct err *err)
{
	if (k == K_BLOB)
		return import_entry_blob(a, e, im, name, d, err);
	if (k == K_INDEX && !im->index)
		return read_small(a, e, INDEX_MAX, &im->index, &im->index_len,
				  name, err);
	if (k == K_DESC && !im->desc)
		return read_small(a, e, DESC_MAX, &im->desc, &im->desc_len,
				  name, err);
	if (k == K_LAYOUT && !im->layout)
		return read_small(a, e, SMALL_MAX, &im->layout, &im->layout_len,
				  name, err);
	return err_set(err, ERR_INVALID, "bundle entry %.300s appears twice",
		       name);
}

static int import_entries_whole(struct import *im, struct err *err);

/* Every entry of every part, in order, then the end of the stream. */
static int import_entries(struct archive *a, struct in *r, struct import *im,
			  struct err *err)
{
	struct archive_entry *e;
	int rc = 0, hr;

	while ((hr = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		const char *name = archive_entry_pathname(e);
		struct oci_digest d;
		enum kind k;

		if (!name)
			name = "";
		rc = check_entry(e, name, &k, &d, err);
		if (!rc && k != K_DIR)
			rc = read_entry(a, e, im, k, name, &d, err);
		if (rc)
			return rc;
	}
	if (hr != ARCHIVE_EOF)
		return err->code ? err->code
				 : err_set(err, ERR_INVALID,
					   "%s: %s (truncated or corrupt "
					   "bundle, or a part missing)",
					   r->paths[r->cur ? r->cur - 1 : 0],
					   archive_error_string(a));
	if (r->cur < r->n)
		return err_set(err, ERR_INVALID,
			       "%s: the bundle ended before this part",
			       r->paths[r->cur]);
	/* libarchive takes the end of the data at an entry boundary for the
	 * end of the archive; a whole tar ends in zero blocks after it */
	if (archive_filter_bytes(a, 0) <= archive_read_header_position(a))
		return err_set(err, ERR_INVALID,
			       "%s: truncated bundle: it ends after an entry, "
			       "without the tar end marker (a part missing, "
			       "or the copy cut short?)",
			       r->paths[r->n - 1]);
	return import_entries_whole(im, err);
}

/* After a whole tar: the small entries present, every listed blob met. */
static int import_entries_whole(struct import *im, struct err *err)
{
	size_t unseen = 0;
	const char *first = NULL;

	for (size_t i = 0; i < im->n_list; i++)
		if (!im->list[i].seen && !unseen++)
			first = im->list[i].d.str;
	if (unseen)
		return err_set(
		    err, ERR_INVALID,
		    "bundle holds %zu of the %zu blobs " BUNDLE_DESC_NAME
		    " lists; %s and %zu more missing (truncated?)",
		    im->n_list - unseen, im->n_list, first, unseen - 1);
	if (!im->layout || !im->index)
		return err_set(err, ERR_INVALID,
			       "bundle has no %s: not an OCI layout",
			       !im->layout ? "oci-layout" : "index.json");
	return 0;
}

/* What the description says reference rn needs. */
static int job_needs(struct tagjob *t, json_t *dj, const char *rn,
		     struct err *err)
{
	json_t *refs = json_object_get(dj, "references"), *x;
	size_t q;

	json_array_foreach (refs, q, x) {
		const char *ref = json_string_value(json_object_get(x, "ref"));

		if (!ref || strcmp(ref, rn))
			continue;
		if (need_list(&t->manifests, json_object_get(x, "manifests")) ||
		    need_list(&t->blobs, json_object_get(x, "blobs")))
			return err_set(err, ERR_INVALID,
				       "bundle description: bad digest list "
				       "for %.300s",
				       rn);
	}
	return 0;
}

/* The job for index.json's manifests[i]: a tag (its full reference), or
 * an untagged referrer of a named repository; *placed_out is 0 for an
 * entry that is neither (not ours to place). */
static int job_from_index(struct tagjob *t, int *placed_out, json_t *m,
			  size_t i, const struct import *im, struct err *err)
{
	json_t *ann = json_object_get(m, "annotations");
	const char *rn = json_string_value(json_object_get(ann, ANN_REF_NAME));
	const char *rr =
	    json_string_value(json_object_get(ann, BUNDLE_ANN_REPO));
	const char *ds = json_string_value(json_object_get(m, "digest"));
	int rc;

	*placed_out = 0;
	t->top_size =
	    json_is_integer(json_object_get(m, "size"))
		? (int64_t)json_integer_value(json_object_get(m, "size"))
		: -1;
	if (!ds || oci_digest_parse(&t->top, ds, NULL))
		return err_set(err, ERR_INVALID,
			       "bundle index.json: manifests[%zu]: bad digest",
			       i);
	if (rn) {
		if (bundle_ref_split(rn, t->repo, t->tag))
			return err_set(err, ERR_INVALID,
				       "bundle index.json: manifests[%zu]: bad "
				       "reference \"%.300s\"",
				       i, rn);
	} else if (rr && store_repo_valid(rr)) {
		snprintf(t->repo, sizeof(t->repo), "%s", rr);
	} else {
		return 0;
	}
	*placed_out = 1;
	if (rn && im->dj) {
		rc = job_needs(t, im->dj, rn, err);
		if (rc)
			return rc;
	}
	if (!t->manifests.n)
		need_walk(im, t, &t->top, 0);
	rc = dset_add(&t->manifests, t->top.str, err);
	dset_sort(&t->manifests);
	dset_sort(&t->blobs);
	return rc;
}

/* One job per tag and per referrer index.json places. */
static int import_plan(struct import *im, struct err *err)
{
	json_t *mans, *m;
	size_t i;
	int rc = parse_small(im, err);

	if (rc)
		return rc;
	mans = json_object_get(im->ij, "manifests");
	if (!json_is_array(mans))
		return err_set(err, ERR_INVALID,
			       "bundle index.json: no \"manifests\" list");
	im->jobs = calloc(json_array_size(mans) + 1, sizeof(*im->jobs));
	if (!im->jobs)
		return err_set(err, ERR_FAIL,
			       "bundle index.json: out of memory for %zu "
			       "manifests",
			       json_array_size(mans));
	json_array_foreach (mans, i, m) {
		int placed;

		rc = job_from_index(&im->jobs[im->n_jobs], &placed, m, i, im,
				    err);
		if (rc)
			return rc;
		if (placed)
			im->n_jobs++;
		else
			dset_release(&im->jobs[im->n_jobs].manifests);
	}
	return 0;
}

/* Every reference complete, or no tag moves: the error lists what is
 * missing. */
static int import_check_complete(struct import *im, struct err *err)
{
	struct buf missing;
	int rc = 0;

	buf_init(&missing, 64 * 1024);
	for (size_t i = 0; i < im->n_jobs; i++) {
		struct dset *sets[2] = {&im->jobs[i].manifests,
					&im->jobs[i].blobs};

		for (int k = 0; k < 2; k++)
			for (size_t q = 0; q < sets[k]->n; q++) {
				struct oci_digest d;

				if (!oci_digest_parse(&d, sets[k]->v[q],
						      NULL) &&
				    !im_blob_exists(NULL, im, &d) &&
				    !strstr(missing.data, d.str))
					buf_printf(&missing, "%s%s",
						   missing.len ? ", " : "",
						   d.str);
			}
	}
	if (missing.len)
		rc = err_set(
		    err, ERR_NOT_FOUND,
		    "bundle is incomplete for this store (a delta against "
		    "another base?); no tag moved; missing: %.800s",
		    missing.data);
	buf_release(&missing);
	return rc;
}

/* ERR_INVALID when the stored blob d is not `size` bytes as what names it
 * (`what`) says. */
static int size_agrees(const struct import *im, const struct oci_digest *d,
		       int64_t size, const char *what, struct err *err)
{
	int64_t have = -1;

	if (size < 0 || !im_blob_exists(&have, im, d) || have == size)
		return 0;
	return err_set(err, ERR_INVALID,
		       "bundle: %s says %s is %lld bytes, the bundle holds "
		       "%lld; refused",
		       what, d->str, (long long)size, (long long)have);
}

/* Manifest ds (present: import_check_complete) parses, and every
 * descriptor of it names the size of what the store holds or this import
 * staged. ERR_INVALID naming the manifest when it does not parse: refused
 * here, before anything is published or linked. */
static int manifest_sizes_agree(const struct import *im, const char *ds,
				struct err *err)
{
	struct oci_digest d;
	struct oci_manifest m;
	char *raw = NULL, what[OCI_DIGEST_MAX + 16];
	size_t len;
	int rc;

	if (oci_digest_parse(&d, ds, NULL))
		return err_set(err, ERR_INVALID,
			       "bundle: %.300s: not a digest; refused", ds);
	rc = im_blob_read(&raw, &len, im, &d, err);
	if (rc)
		return err_wrap(err, "bundle: manifest %s: ", d.str);
	rc = oci_manifest_parse(&m, raw, len, NULL, err);
	free(raw);
	if (rc)
		return err_wrap(err,
				"bundle: manifest %s is not a manifest "
				"ocimirror can read; refused, nothing "
				"imported: ",
				d.str);
	snprintf(what, sizeof(what), "manifest %s", d.str);
	if (m.has_config)
		rc =
		    size_agrees(im, &m.config.digest, m.config.size, what, err);
	for (size_t i = 0; i < m.n_layers && !rc; i++)
		rc = size_agrees(im, &m.layers[i].digest, m.layers[i].size,
				 what, err);
	for (size_t i = 0; i < m.n_manifests && !rc; i++)
		rc = size_agrees(im, &m.manifests[i].digest,
				 m.manifests[i].size, what, err);
	oci_manifest_release(&m);
	return rc;
}

/* Sizes agree with what names them: index.json for each top manifest,
 * each manifest for its config, layers and children. */
static int import_check_sizes(struct import *im, struct err *err)
{
	int rc = 0;

	for (size_t i = 0; i < im->n_jobs && !rc; i++) {
		struct tagjob *t = &im->jobs[i];

		rc = size_agrees(im, &t->top, t->top_size, "bundle index.json",
				 err);
		for (size_t q = 0; q < t->manifests.n && !rc; q++)
			rc = manifest_sizes_agree(im, t->manifests.v[q], err);
	}
	return rc;
}

/* Link every blob and manifest into its repository, then move the tags. */
static int import_link(struct import *im, struct err *err)
{
	int rc = 0;

	for (size_t i = 0; i < im->n_jobs && !rc; i++) {
		struct tagjob *t = &im->jobs[i];

		for (size_t q = 0; q < t->blobs.n && !rc; q++) {
			struct oci_digest d;

			if (!oci_digest_parse(&d, t->blobs.v[q], err))
				rc = store_blob_link(im->s, t->repo, &d, err);
			else
				rc = ERR_INVALID;
		}
		for (size_t q = 0; q < t->manifests.n && !rc; q++)
			rc = link_manifest(im->s, t->repo, t->manifests.v[q],
					   err);
	}
	for (size_t i = 0; i < im->n_jobs && !rc; i++) {
		struct tagjob *t = &im->jobs[i];
		struct store_ref sr;

		if (!t->tag[0])
			continue;
		rc = store_manifest_get(&sr, im->s, t->repo, &t->top, err);
		if (!rc)
			rc = store_tag_set(im->s, t->repo, t->tag, &sr, err);
		if (!rc)
			im->st->refs++;
	}
	return rc;
}

/* Every check passed: the staged blobs into blobs/. A failure here (a
 * rename refused) leaves those published so far for gc; the rest are
 * removed with their writers. */
static int import_publish(struct import *im, struct err *err)
{
	for (size_t i = 0; i < im->n_staged; i++) {
		int rc = store_writer_publish(im->staged[i].w, err);

		if (rc)
			return err_wrap(err,
					"bundle: publishing %zu of %zu "
					"verified blobs: ",
					i + 1, im->n_staged);
	}
	return 0;
}

static void import_release(struct import *im)
{
	for (size_t i = 0; im->jobs && i < im->n_jobs + 1; i++) {
		dset_release(&im->jobs[i].manifests);
		dset_release(&im->jobs[i].blobs);
	}
	free(im->jobs);
	json_decref(im->ij);
	json_decref(im->dj);
	free(im->list);
	/* the staged blobs not published: their temp files removed */
	for (size_t i = 0; i < im->n_staged; i++)
		store_writer_free(im->staged[i].w);
	free(im->staged);
	free(im->index);
	free(im->desc);
	free(im->layout);
}

int bundle_import(struct store *s, struct bundle_stats *st,
		  const char *const *paths, size_t n, struct err *err)
{
	struct archive *a = archive_read_new();
	struct in r = {paths, n, 0, -1, NULL, err};
	struct import im;
	int rc = 0;

	memset(st, 0, sizeof(*st));
	memset(&im, 0, sizeof(im));
	im.s = s;
	im.st = st;
	r.buf = malloc(BUNDLE_CHUNK);
	if (!a || !r.buf) {
		rc = err_set(err, ERR_FAIL, "%s: out of memory", paths[0]);
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
	/* nothing reaches blobs/ before every check passed: a refused
	 * bundle leaves only its own temp files, removed on the way out */
	rc = import_entries(a, &r, &im, err);
	stage_sort(&im);
	if (!rc)
		rc = import_plan(&im, err);
	if (!rc)
		rc = import_check_complete(&im, err);
	if (!rc)
		rc = import_check_sizes(&im, err);
	if (rc) {
		st->blobs = 0;
		st->bytes = 0;
		goto out;
	}
	rc = import_publish(&im, err);
	if (!rc)
		rc = import_link(&im, err);
	if (!rc)
		st->parts = n;
out:
	if (a)
		archive_read_free(a);
	if (r.fd >= 0)
		close(r.fd);
	free(r.buf);
	import_release(&im);
	return rc;
}
