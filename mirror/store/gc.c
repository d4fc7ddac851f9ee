#include "mirror/store/gc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mirror/store/backend.h"
#include "mirror/store/fsutil.h"
#include "mirror/store/walk.h"
#include "oci/manifest.h"
#include "oci/ref.h"
#include "oci/vec.h"

/* A store key: "repositories/" + repo + "/_referrers/sha512/" + hex +
 * "/sha512-" + hex fits with room to spare. */
#define KEY_MAX 2048

/* A set of digests: open addressing over fixed 65-byte slots (algorithm,
 * then the binary digest), so a million blobs cost a few tens of MiB. */
#define SLOT 65

struct dset {
	unsigned char *slots;
	size_t cap; /* power of two, or 0 */
	size_t n;
};

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c - 'a' + 10;
}

static void dset_key(unsigned char *key, const struct oci_digest *d)
{
	const char *hex = oci_digest_hex(d);
	size_t n = strlen(hex) / 2;

	memset(key, 0, SLOT);
	key[0] = (unsigned char)d->alg;
	for (size_t i = 0; i < n && i < SLOT - 1; i++)
		key[1 + i] = (unsigned char)(hexval(hex[2 * i]) << 4 |
					     hexval(hex[2 * i + 1]));
}

/* The digest bytes are uniform already: the first eight are the hash. */
static size_t dset_slot(const struct dset *s, const unsigned char *key)
{
	uint64_t h;

	memcpy(&h, key + 1, sizeof(h));
	return (size_t)h & (s->cap - 1);
}

static int dset_has(const struct dset *s, const struct oci_digest *d)
{
	unsigned char key[SLOT];

	if (!s->cap)
		return 0;
	dset_key(key, d);
	for (size_t i = dset_slot(s, key);; i = (i + 1) & (s->cap - 1)) {
		const unsigned char *e = s->slots + i * SLOT;
		if (!e[0])
			return 0;
		if (!memcmp(e, key, SLOT))
			return 1;
	}
}

static void dset_insert(struct dset *s, const unsigned char *key)
{
	for (size_t i = dset_slot(s, key);; i = (i + 1) & (s->cap - 1)) {
		unsigned char *e = s->slots + i * SLOT;
		if (!e[0]) {
			memcpy(e, key, SLOT);
			s->n++;
			return;
		}
	}
}

/* 1 when added, 0 when already there, ERR_FAIL out of memory. */
static int dset_add(struct dset *s, const struct oci_digest *d)
{
	unsigned char key[SLOT];

	if (dset_has(s, d))
		return 0;
	if ((s->n + 1) * 2 > s->cap) {
		struct dset g = {NULL, s->cap ? s->cap * 2 : 256, 0};
		g.slots = calloc(g.cap, SLOT);
		if (!g.slots)
			return ERR_FAIL;
		for (size_t i = 0; i < s->cap; i++)
			if (s->slots[i * SLOT])
				dset_insert(&g, s->slots + i * SLOT);
		free(s->slots);
		*s = g;
	}
	dset_key(key, d);
	dset_insert(s, key);
	return 1;
}

static void dset_release(struct dset *s)
{
	free(s->slots);
	s->slots = NULL;
	s->cap = s->n = 0;
}

struct work {
	struct oci_digest d;
	int depth;
};

/* A manifest record as seen when the repository's roots were taken; the
 * records are swept from this list once marking is done. */
struct mrec {
	struct oci_digest d;
	int64_t size; /* -1: not a regular file */
	int64_t mtime;
};

struct gc {
	struct store *s;
	const struct gc_options *o;
	struct gc_stats *st;
	int64_t cutoff;	  /* modified after this: within the grace period */
	struct dset keep; /* every file of blobs/ a kept record references */
	int oom;
	/* the repository being marked */
	const char *repo;
	char rkey[KEY_MAX]; /* "repositories/<repo>/" */
	struct dset rman;   /* manifests kept in it */
	struct dset rblob;  /* blobs its kept manifests reference */
	int keep_all;	    /* an unreadable tag: every manifest is a root */
	int unsafe;	    /* something unread: sweep none of its records */
	struct work *q;
	size_t nq, capq;
	struct mrec *mr; /* its _manifests records */
	size_t nmr, capmr;
	/* the referrer sweep: the subject directory being visited, and how
	 * many of its entries are left */
	char subj[KEY_MAX];
	struct oci_digest subj_d;
	int subj_ok; /* subj names a digest: subj_d */
	size_t left;
};

static void warn(struct gc *g, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void warn(struct gc *g, const char *fmt, ...)
{
	char msg[ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	g->st->warnings++;
	if (g->o->warn)
		g->o->warn(g->o->ctx, msg);
}

static int young(const struct gc *g, int64_t mtime)
{
	return mtime > g->cutoff;
}

static void keep_add(struct gc *g, struct dset *s, const struct oci_digest *d)
{
	if (dset_add(s, d) < 0)
		g->oom = 1;
}

/* rest is "<alg>/<name>" with no other '/': the digest it names. */
static int key_digest(struct oci_digest *out, const char *rest)
{
	const char *slash = strchr(rest, '/');
	char alg[16];
	size_t n;

	if (!slash || strchr(slash + 1, '/'))
		return ERR_INVALID;
	n = (size_t)(slash - rest);
	if (n >= sizeof(alg))
		return ERR_INVALID;
	memcpy(alg, rest, n);
	alg[n] = '\0';
	return fsutil_name_digest(out, alg, slash + 1);
}

static void push(struct gc *g, const struct oci_digest *d, int depth)
{
	if (depth > GC_DEPTH_MAX) {
		warn(g, "%s@%s: nested deeper than %d levels; not followed",
		     g->repo, d->str, GC_DEPTH_MAX);
		g->unsafe = 1;
		g->st->blob_sweep_skipped = 1;
		return;
	}
	if (OCI_VEC_RESERVE(g->q, g->nq, g->capq, 1, 0)) {
		g->oom = 1;
		return;
	}
	g->q[g->nq].d = *d;
	g->q[g->nq].depth = depth;
	g->nq++;
}

/* A kept manifest that cannot be read: gc cannot tell what it needs. */
static void unreadable(struct gc *g, const struct oci_digest *d,
		       const char *why)
{
	warn(g,
	     "%s@%s: %s; no blob files are removed in this run (run "
	     "ocimirror verify)",
	     g->repo, d->str, why);
	g->st->unreadable++;
	g->unsafe = 1;
	g->st->blob_sweep_skipped = 1;
}

static void push_referrers(struct gc *g, const struct oci_digest *d, int depth)
{
	char key[KEY_MAX], **names = NULL;
	size_t n = 0;

	snprintf(key, sizeof(key), "_referrers/%s/%s",
		 oci_digest_alg_name(d->alg), oci_digest_hex(d));
	if (g->s->ops->record_list(&names, &n, g->s->be, g->repo, key, NULL)) {
		unreadable(g, d, "referrers cannot be listed");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct oci_digest r;
		char *dash = strchr(names[i], '-');

		if (!dash)
			continue;
		*dash = '\0';
		if (!fsutil_name_digest(&r, names[i], dash + 1))
			push(g, &r, depth + 1);
	}
	fsutil_names_free(names, n);
}

static void mark_manifest(struct gc *g, const struct oci_digest *d, int depth)
{
	struct oci_manifest m;
	struct store_ref rec;
	struct oci_digest got;
	struct err e;
	char *raw = NULL;
	size_t len = 0;
	int rc;

	memset(&m, 0, sizeof(m));
	rc = dset_add(&g->rman, d);
	if (rc <= 0) {
		if (rc < 0)
			g->oom = 1;
		return;
	}
	keep_add(g, &g->keep, d);
	rc = store_blob_read(&raw, &len, g->s, d, OCI_MANIFEST_MAX, &e);
	if (rc == ERR_NOT_FOUND) {
		/* an index's child may be left out (a pull of one
		 * platform) */
		if (!depth)
			warn(g, "%s@%s: manifest is not stored", g->repo,
			     d->str);
		goto referrers;
	}
	if (rc) {
		unreadable(g, d, e.msg);
		return;
	}
	oci_digest_of(&got, d->alg, raw, len);
	if (!oci_digest_equal(&got, d)) {
		unreadable(g, d, "stored content does not match its digest");
		goto out;
	}
	rc = store_manifest_get(&rec, g->s, g->repo, d, NULL);
	rc = oci_manifest_parse(&m, raw, len, rc ? NULL : rec.media_type, &e);
	if (rc) {
		oci_manifest_release(&m);
		memset(&m, 0, sizeof(m));
		rc = oci_manifest_parse(&m, raw, len, NULL, &e);
	}
	if (rc) {
		unreadable(g, d, e.msg);
		goto out;
	}
	if (m.kind == OCI_KIND_MANIFEST) {
		if (m.has_config) {
			keep_add(g, &g->rblob, &m.config.digest);
			keep_add(g, &g->keep, &m.config.digest);
		}
		for (size_t i = 0; i < m.n_layers; i++) {
			keep_add(g, &g->rblob, &m.layers[i].digest);
			keep_add(g, &g->keep, &m.layers[i].digest);
		}
	} else {
		for (size_t i = 0; i < m.n_manifests; i++) {
			const struct oci_descriptor *c = &m.manifests[i];
			if (!oci_mediatype_kind(c->media_type)) {
				/* an index may list plain blobs too */
				keep_add(g, &g->rblob, &c->digest);
				keep_add(g, &g->keep, &c->digest);
			} else {
				/* followed without asking whether it is
				 * stored: a failed look (a remote store) must
				 * not leave its blobs unmarked; one not stored
				 * (a partial index) is skipped by the read */
				push(g, &c->digest, depth + 1);
			}
		}
	}
referrers:
	push_referrers(g, d, depth);
out:
	oci_manifest_release(&m);
	free(raw);
}

static void report(struct gc *g, enum gc_item_kind kind, const char *digest,
		   const char *subject, const char *key, int64_t size)
{
	int global = kind == GC_ITEM_BLOB || kind == GC_ITEM_TMP ||
		     kind == GC_ITEM_LEFTOVER;
	struct gc_item it = {
	    kind, global ? NULL : g->repo, digest, subject, key, size};

	if (g->o->removed)
		g->o->removed(g->o->ctx, &it);
}

/* Remove one object (not in a dry run). 0 when removed or already gone. */
static int remove_key(struct gc *g, const char *key)
{
	struct err e;
	int rc;

	if (g->o->dry_run)
		return 0;
	rc = g->s->ops->remove(g->s->be, key, &e);
	if (!rc || rc == ERR_NOT_FOUND)
		return 0;
	warn(g, "%s", e.msg);
	g->st->errors++;
	return ERR_FAIL; /* warned */
}

/* Walk the records under rkey + sub ("_manifests/"); a failure is warned
 * about ("REPO: ...") and makes the return 1. */
static int walk_records(struct gc *g, const char *sub, store_walk_fn cb)
{
	char prefix[KEY_MAX];
	struct err e;

	snprintf(prefix, sizeof(prefix), "%s%s", g->rkey, sub);
	if (!g->s->ops->walk(g->s->be, prefix, cb, g, &e))
		return 0;
	warn(g, "%s: %s", g->repo, e.msg);
	return 1;
}

/* A manifest record: kept for the sweep; a root when young, or when a
 * tag was unreadable. */
static int seed_record(void *ctx, const char *key, int64_t size, int64_t mtime)
{
	struct gc *g = ctx;
	struct oci_digest d;

	if (key_digest(&d, key + strlen(g->rkey) + strlen("_manifests/")))
		return 0; /* not ours: verify reports it */
	if (g->keep_all || young(g, mtime))
		push(g, &d, 0);
	if (OCI_VEC_RESERVE(g->mr, g->nmr, g->capmr, 1, 0)) {
		g->oom = 1;
		return 1;
	}
	g->mr[g->nmr].d = d;
	g->mr[g->nmr].size = size;
	g->mr[g->nmr].mtime = mtime;
	g->nmr++;
	return 0;
}

/* Roots of the repository: its tags, and its manifest records that are
 * young (a push in progress) or, after an unreadable tag, all of them. */
static void repo_roots(struct gc *g)
{
	struct err e;
	char **names = NULL;
	size_t n = 0;

	if (g->s->ops->record_list(&names, &n, g->s->be, g->repo, "_tags",
				   &e)) {
		warn(g, "%s: %s; keeping every manifest", g->repo, e.msg);
		g->keep_all = 1;
		g->unsafe = 1;
	}
	for (size_t i = 0; i < n; i++) {
		struct store_ref ref;
		int rc;

		if (!oci_tag_valid(names[i])) {
			warn(g, "%s: ignoring %s_tags/%s: not a tag name",
			     g->repo, g->rkey, names[i]);
			continue;
		}
		rc = store_tag_get(&ref, g->s, g->repo, names[i], &e);
		if (!rc) {
			push(g, &ref.digest, 0);
		} else if (rc != ERR_NOT_FOUND) {
			warn(g, "%s:%s: %s; keeping every manifest of %s",
			     g->repo, names[i], e.msg, g->repo);
			g->keep_all = 1;
			g->unsafe = 1;
		}
	}
	fsutil_names_free(names, n);
	if (walk_records(g, "_manifests/", seed_record))
		g->unsafe = 1;
}

/* One record of kind (manifest or blob record) not in set nor also, not
 * young: removed. */
static void sweep_record(struct gc *g, enum gc_item_kind kind,
			 const struct oci_digest *d, const char *key,
			 int64_t size, int64_t mtime, const struct dset *set,
			 const struct dset *also)
{
	if (dset_has(set, d) || (also && dset_has(also, d)))
		return;
	if (size < 0)
		return;
	if (young(g, mtime)) {
		/* a push in progress: its blob stays too */
		if (kind == GC_ITEM_BLOB_RECORD)
			keep_add(g, &g->keep, d);
		return;
	}
	if (!remove_key(g, key)) {
		if (kind == GC_ITEM_MANIFEST)
			g->st->manifests++;
		else
			g->st->blob_records++;
		report(g, kind, d->str, NULL, key, 0);
	}
}

static void sweep_manifests(struct gc *g)
{
	for (size_t i = 0; i < g->nmr && !g->oom; i++) {
		const struct mrec *r = &g->mr[i];
		char key[KEY_MAX];

		snprintf(key, sizeof(key), "%s_manifests/%s/%s", g->rkey,
			 oci_digest_alg_name(r->d.alg), oci_digest_hex(&r->d));
		sweep_record(g, GC_ITEM_MANIFEST, &r->d, key, r->size, r->mtime,
			     &g->rman, NULL);
	}
}

static int sweep_blob_record(void *ctx, const char *key, int64_t size,
			     int64_t mtime)
{
	struct gc *g = ctx;
	struct oci_digest d;

	if (!key_digest(&d, key + strlen(g->rkey) + strlen("_blobs/")))
		sweep_record(g, GC_ITEM_BLOB_RECORD, &d, key, size, mtime,
			     &g->rblob, &g->rman);
	return g->oom;
}

/* The subject directory just visited: removed when nothing is left in it
 * (it may have gained an entry meanwhile: then it stays). */
static void subject_done(struct gc *g)
{
	if (g->subj[0] && g->subj_ok && !g->left && !g->o->dry_run)
		g->s->ops->remove(g->s->be, g->subj, NULL);
	g->subj[0] = '\0';
}

/* "<rkey>_referrers/<alg>/<subject>/<alg>-<referrer>": removed when its
 * subject or its referrer is not kept. */
static int sweep_referrer(void *ctx, const char *key, int64_t size,
			  int64_t mtime)
{
	struct gc *g = ctx;
	const char *rest = key + strlen(g->rkey) + strlen("_referrers/");
	const char *s1 = strchr(rest, '/');
	const char *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
	struct oci_digest r;
	char alg[16], *dash;
	size_t dl;

	if (!s2)
		return 0;
	dl = (size_t)(s2 - key);
	if (strncmp(g->subj, key, dl) || g->subj[dl]) {
		/* the entries of one subject come together */
		subject_done(g);
		memcpy(g->subj, key, dl);
		g->subj[dl] = '\0';
		g->left = 0;
		g->subj_ok = !key_digest(&g->subj_d, g->subj + (rest - key));
	}
	if (!g->subj_ok)
		return 0;
	g->left++;
	rest = s2 + 1;
	dash = strchr(rest, '-');
	if (!dash || strchr(rest, '/') || (size_t)(dash - rest) >= sizeof(alg))
		return 0;
	memcpy(alg, rest, (size_t)(dash - rest));
	alg[dash - rest] = '\0';
	if (fsutil_name_digest(&r, alg, dash + 1))
		return 0;
	if (dset_has(&g->rman, &g->subj_d) && dset_has(&g->rman, &r))
		return 0;
	if (size >= 0 && !young(g, mtime) && !remove_key(g, key)) {
		g->st->referrers++;
		g->left--;
		report(g, GC_ITEM_REFERRER, r.str, g->subj_d.str, key, 0);
	}
	return 0;
}

static int gc_repo(void *ctx, const char *repo)
{
	struct gc *g = ctx;

	g->repo = repo;
	g->keep_all = g->unsafe = 0;
	g->nq = g->nmr = 0;
	if ((size_t)snprintf(g->rkey, sizeof(g->rkey), "repositories/%s/",
			     repo) >= sizeof(g->rkey)) {
		/* cannot be: names are at most OCI_REPO_MAX */
		warn(g, "%s: name too long; not visited", repo);
		g->st->blob_sweep_skipped = 1;
		return 0;
	}
	repo_roots(g);
	while (g->nq && !g->oom) {
		struct work w = g->q[--g->nq];
		mark_manifest(g, &w.d, w.depth);
	}
	if (g->unsafe) {
		/* what was not read may reference any blob */
		warn(g, "%s: records left as they are", repo);
		g->st->blob_sweep_skipped = 1;
	} else if (!g->oom) {
		g->subj[0] = '\0';
		walk_records(g, "_referrers/", sweep_referrer);
		subject_done(g);
		sweep_manifests(g);
		walk_records(g, "_blobs/", sweep_blob_record);
	}
	dset_release(&g->rman);
	dset_release(&g->rblob);
	return g->oom;
}

static int sweep_blob(void *ctx, const char *key, int64_t size, int64_t mtime)
{
	struct gc *g = ctx;
	struct oci_digest d;

	if (key_digest(&d, key + strlen("blobs/")))
		return 0; /* not ours: verify reports it */
	if (dset_has(&g->keep, &d)) {
		g->st->blobs_kept++;
		return 0;
	}
	if (size < 0)
		return 0;
	if (young(g, mtime)) {
		g->st->young_kept++;
	} else if (!remove_key(g, key)) {
		g->st->blobs++;
		g->st->blob_bytes += (uint64_t)size;
		report(g, GC_ITEM_BLOB, d.str, NULL, key, size);
	}
	return 0;
}

static void sweep_blobs(struct gc *g)
{
	struct err e;

	if (g->s->ops->walk(g->s->be, "blobs/", sweep_blob, g, &e))
		warn(g, "%s", e.msg);
}

/* A leftover of the backend the sweep removed (or would). */
static int swept(void *ctx, const char *key, int64_t size, int64_t mtime)
{
	struct gc *g = ctx;

	(void)mtime;
	if (size < 0)
		size = 0;
	if (!strncmp(key, "tmp/", 4)) {
		g->st->tmp_files++;
		g->st->tmp_bytes += (uint64_t)size;
		report(g, GC_ITEM_TMP, NULL, NULL, key, size);
	} else {
		g->st->leftovers++;
		g->st->leftover_bytes += (uint64_t)size;
		report(g, GC_ITEM_LEFTOVER, NULL, NULL, key, size);
	}
	return 0;
}

static void sweep_leftovers(struct gc *g)
{
	struct err e;

	if (!g->s->ops->sweep)
		return;
	if (g->s->ops->sweep(g->s->be, g->cutoff, g->o->dry_run, swept, g,
			     &e)) {
		warn(g, "%s", e.msg);
		g->st->errors++;
	}
}

void gc_options_init(struct gc_options *o)
{
	memset(o, 0, sizeof(*o));
	o->grace_seconds = GC_GRACE_DEFAULT;
}

int gc_run(struct gc_stats *out, struct store *s, const struct gc_options *o,
	   struct err *err)
{
	struct gc *g;
	struct err werr;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!s->ops->walk || !s->ops->remove)
		return err_set(err, ERR_UNSUPPORTED,
			       "gc %s: the %s backend cannot list its objects",
			       s->root, s->ops->name);
	g = calloc(1, sizeof(*g));
	if (!g)
		return err_set(err, ERR_FAIL, "gc %s: out of memory", s->root);
	err_clear(&werr);
	g->s = s;
	g->o = o;
	g->st = out;
	g->cutoff =
	    (int64_t)time(NULL) - (o->grace_seconds > 0 ? o->grace_seconds : 0);
	rc = walk_repos(s, gc_repo, g, &werr);
	if (g->oom) {
		rc = err_set(err, ERR_FAIL, "gc %s: out of memory", s->root);
		goto out;
	}
	if (rc) {
		warn(g, "%s; no blob files are removed in this run", werr.msg);
		out->blob_sweep_skipped = 1;
	}
	rc = 0;
	if (!out->blob_sweep_skipped)
		sweep_blobs(g);
	sweep_leftovers(g);
	if (g->oom)
		rc = err_set(err, ERR_FAIL, "gc %s: out of memory", s->root);
out:
	dset_release(&g->keep);
	dset_release(&g->rman);
	dset_release(&g->rblob);
	free(g->q);
	free(g->mr);
	free(g);
	return rc;
}
