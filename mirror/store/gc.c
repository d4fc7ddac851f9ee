#include "mirror/store/gc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mirror/store/fsutil.h"
#include "mirror/store/walk.h"
#include "oci/manifest.h"
#include "oci/ref.h"
#include "oci/vec.h"

static const char *const algs[] = {"sha256", "sha512"};
#define N_ALGS (sizeof(algs) / sizeof(algs[0]))

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

struct gc {
	struct store *s;
	const struct gc_options *o;
	struct gc_stats *st;
	time_t cutoff;	  /* modified after this: within the grace period */
	struct dset keep; /* every file of blobs/ a kept record references */
	int oom;
	/* the repository being marked */
	const char *repo;
	char *rdir;
	struct dset rman;  /* manifests kept in it */
	struct dset rblob; /* blobs its kept manifests reference */
	int keep_all;	   /* an unreadable tag: every manifest is a root */
	int unsafe;	   /* something unread: sweep none of its records */
	struct work *q;
	size_t nq, capq;
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

static int young(const struct gc *g, const struct stat *st)
{
	return st->st_mtime > g->cutoff;
}

static void keep_add(struct gc *g, struct dset *s, const struct oci_digest *d)
{
	if (dset_add(s, d) < 0)
		g->oom = 1;
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
	char *dir = NULL, **names = NULL;
	size_t n = 0;

	if (asprintf(&dir, "%s/_referrers/%s/%s", g->rdir,
		     oci_digest_alg_name(d->alg), oci_digest_hex(d)) < 0) {
		g->oom = 1;
		return;
	}
	if (fsutil_names_list(&names, &n, dir, NULL)) {
		unreadable(g, d, "referrers cannot be listed");
		free(dir);
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
	free(dir);
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
		warn(g, "%s@%s: manifest is not stored", g->repo, d->str);
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
			} else if (store_blob_exists(NULL, g->s, &c->digest)) {
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
		   const char *subject, const char *path, int64_t size)
{
	struct gc_item it = {
	    kind,
	    kind == GC_ITEM_BLOB || kind == GC_ITEM_TMP ? NULL : g->repo,
	    digest,
	    subject,
	    path + strlen(g->s->root) + 1,
	    size};

	if (g->o->removed)
		g->o->removed(g->o->ctx, &it);
}

/* Remove one file (not in a dry run). 0 when removed or already gone. */
static int remove_file(struct gc *g, const char *path)
{
	if (g->o->dry_run || !unlink(path) || errno == ENOENT)
		return 0;
	warn(g, "cannot remove %s: %s", path, strerror(errno));
	g->st->errors++;
	return ERR_FAIL; /* warned */
}

/* fn is called for each file under BASE/SUB/<alg>/ whose name is a
 * digest of that algorithm, with its path and lstat result (st NULL when
 * lstat failed). A directory that cannot be listed is warned about
 * (prefixed "REPO: " when repo is not NULL) and makes the return 1. */
typedef void (*digest_file_fn)(struct gc *g, const struct oci_digest *d,
			       const char *path, const struct stat *st,
			       void *ctx);

static int digest_files_each(struct gc *g, const char *base, const char *sub,
			     const char *repo, digest_file_fn fn, void *ctx)
{
	int unlisted = 0;

	for (size_t a = 0; a < N_ALGS; a++) {
		char *dir = NULL, **names = NULL;
		size_t n = 0;

		if (asprintf(&dir, "%s/%s/%s", base, sub, algs[a]) < 0) {
			g->oom = 1;
			return unlisted;
		}
		if (fsutil_names_list(&names, &n, dir, NULL)) {
			if (repo)
				warn(g, "%s: cannot list %s: %s", repo, dir,
				     strerror(errno));
			else
				warn(g, "cannot list %s: %s", dir,
				     strerror(errno));
			unlisted = 1;
		}
		for (size_t i = 0; i < n; i++) {
			struct oci_digest d;
			struct stat st;
			char *p = NULL;

			if (fsutil_name_digest(&d, algs[a], names[i]))
				continue; /* not ours: verify reports it */
			if (asprintf(&p, "%s/%s", dir, names[i]) < 0) {
				g->oom = 1;
				continue;
			}
			fn(g, &d, p, lstat(p, &st) ? NULL : &st, ctx);
			free(p);
		}
		fsutil_names_free(names, n);
		free(dir);
	}
	return unlisted;
}

/* A manifest record that is young, or any after an unreadable tag. */
static void seed_file(struct gc *g, const struct oci_digest *d,
		      const char *path, const struct stat *st, void *ctx)
{
	(void)path;
	(void)ctx;
	if (g->keep_all || (st && young(g, st)))
		push(g, d, 0);
}

/* Roots of the repository: its tags, and its manifest records that are
 * young (a push in progress) or, after an unreadable tag, all of them. */
static void repo_roots(struct gc *g)
{
	char *dir = NULL, **names = NULL;
	size_t n = 0;

	if (asprintf(&dir, "%s/_tags", g->rdir) < 0) {
		g->oom = 1;
		return;
	}
	if (fsutil_names_list(&names, &n, dir, NULL)) {
		warn(g, "%s: cannot list tags: %s; keeping every manifest",
		     g->repo, strerror(errno));
		g->keep_all = 1;
		g->unsafe = 1;
	}
	for (size_t i = 0; i < n; i++) {
		struct store_ref ref;
		struct err e;
		int rc;

		if (!oci_tag_valid(names[i])) {
			warn(g, "%s: ignoring %s/%s: not a tag name", g->repo,
			     dir, names[i]);
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
	free(dir);
	if (digest_files_each(g, g->rdir, "_manifests", g->repo, seed_file,
			      NULL))
		g->unsafe = 1;
}

struct sweep_ctx {
	enum gc_item_kind kind;
	const struct dset *set, *also;
};

static void sweep_record(struct gc *g, const struct oci_digest *d,
			 const char *path, const struct stat *st, void *ctx)
{
	const struct sweep_ctx *c = ctx;

	if (dset_has(c->set, d) || (c->also && dset_has(c->also, d)))
		return;
	if (!st || !S_ISREG(st->st_mode))
		return;
	if (young(g, st)) {
		/* a push in progress: its blob stays too */
		if (c->kind == GC_ITEM_BLOB_RECORD)
			keep_add(g, &g->keep, d);
		return;
	}
	if (!remove_file(g, path)) {
		if (c->kind == GC_ITEM_MANIFEST)
			g->st->manifests++;
		else
			g->st->blob_records++;
		report(g, c->kind, d->str, NULL, path, 0);
	}
}

/* Sweep records under <rdir>/<sub>/<alg>/ not in set (nor young). */
static void sweep_records(struct gc *g, const char *sub, enum gc_item_kind kind,
			  const struct dset *set, const struct dset *also)
{
	struct sweep_ctx c = {kind, set, also};

	digest_files_each(g, g->rdir, sub, g->repo, sweep_record, &c);
}

/* Referrer records whose subject or referrer is not kept. */
static void sweep_referrers(struct gc *g)
{
	for (size_t a = 0; a < N_ALGS; a++) {
		char *dir = NULL, **subs = NULL;
		size_t ns = 0;

		if (asprintf(&dir, "%s/_referrers/%s", g->rdir, algs[a]) < 0) {
			g->oom = 1;
			return;
		}
		if (fsutil_names_list(&subs, &ns, dir, NULL))
			warn(g, "%s: cannot list %s: %s", g->repo, dir,
			     strerror(errno));
		for (size_t i = 0; i < ns; i++) {
			struct oci_digest subj;
			char *sdir = NULL, **names = NULL;
			size_t n = 0, left = 0;

			if (fsutil_name_digest(&subj, algs[a], subs[i]))
				continue;
			if (asprintf(&sdir, "%s/%s", dir, subs[i]) < 0) {
				g->oom = 1;
				continue;
			}
			if (fsutil_names_list(&names, &n, sdir, NULL)) {
				free(sdir);
				continue;
			}
			for (size_t j = 0; j < n; j++) {
				struct oci_digest r;
				struct stat st;
				char *dash = strchr(names[j], '-'), *p = NULL;

				left++;
				if (!dash)
					continue;
				*dash = '\0';
				if (fsutil_name_digest(&r, names[j], dash + 1))
					continue;
				*dash = '-';
				if (dset_has(&g->rman, &subj) &&
				    dset_has(&g->rman, &r))
					continue;
				if (asprintf(&p, "%s/%s", sdir, names[j]) < 0) {
					g->oom = 1;
					continue;
				}
				if (!lstat(p, &st) && S_ISREG(st.st_mode) &&
				    !young(g, &st) && !remove_file(g, p)) {
					g->st->referrers++;
					left--;
					report(g, GC_ITEM_REFERRER, r.str,
					       subj.str, p, 0);
				}
				free(p);
			}
			if (!left && !g->o->dry_run)
				rmdir(sdir); /* may have gained an entry */
			fsutil_names_free(names, n);
			free(sdir);
		}
		fsutil_names_free(subs, ns);
		free(dir);
	}
}

static int gc_repo(void *ctx, const char *repo)
{
	struct gc *g = ctx;

	g->repo = repo;
	g->keep_all = g->unsafe = 0;
	g->nq = 0;
	if (asprintf(&g->rdir, "%s/repositories/%s", g->s->root, repo) < 0) {
		g->rdir = NULL;
		g->oom = 1;
		return 1;
	}
	repo_roots(g);
	while (g->nq && !g->oom) {
		struct work w = g->q[--g->nq];
		mark_manifest(g, &w.d, w.depth);
	}
	if (g->unsafe) {
		warn(g, "%s: records left as they are", repo);
	} else if (!g->oom) {
		sweep_referrers(g);
		sweep_records(g, "_manifests", GC_ITEM_MANIFEST, &g->rman,
			      NULL);
		sweep_records(g, "_blobs", GC_ITEM_BLOB_RECORD, &g->rblob,
			      &g->rman);
	}
	dset_release(&g->rman);
	dset_release(&g->rblob);
	free(g->rdir);
	g->rdir = NULL;
	return g->oom;
}

static void sweep_blob(struct gc *g, const struct oci_digest *d,
		       const char *path, const struct stat *st, void *ctx)
{
	(void)ctx;
	if (dset_has(&g->keep, d)) {
		g->st->blobs_kept++;
		return;
	}
	if (!st || !S_ISREG(st->st_mode))
		return;
	if (young(g, st)) {
		g->st->young_kept++;
	} else if (!remove_file(g, path)) {
		g->st->blobs++;
		g->st->blob_bytes += (uint64_t)st->st_size;
		report(g, GC_ITEM_BLOB, d->str, NULL, path, st->st_size);
	}
}

static void sweep_blobs(struct gc *g)
{
	digest_files_each(g, g->s->root, "blobs", NULL, sweep_blob, NULL);
}

static void sweep_tmp(struct gc *g)
{
	char *dir = NULL, **names = NULL;
	size_t n = 0;

	if (asprintf(&dir, "%s/tmp", g->s->root) < 0) {
		g->oom = 1;
		return;
	}
	if (fsutil_names_list(&names, &n, dir, NULL))
		warn(g, "cannot list %s: %s", dir, strerror(errno));
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		char *p = NULL;

		if (asprintf(&p, "%s/%s", dir, names[i]) < 0) {
			g->oom = 1;
			continue;
		}
		if (!lstat(p, &st) && S_ISREG(st.st_mode) && !young(g, &st) &&
		    !remove_file(g, p)) {
			g->st->tmp_files++;
			g->st->tmp_bytes += (uint64_t)st.st_size;
			report(g, GC_ITEM_TMP, NULL, NULL, p, st.st_size);
		}
		free(p);
	}
	fsutil_names_free(names, n);
	free(dir);
}

void gc_options_init(struct gc_options *o)
{
	memset(o, 0, sizeof(*o));
	o->grace_seconds = GC_GRACE_DEFAULT;
}

int gc_run(struct gc_stats *out, struct store *s, const struct gc_options *o,
	   struct err *err)
{
	struct gc g;
	struct err werr;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&g, 0, sizeof(g));
	err_clear(&werr);
	g.s = s;
	g.o = o;
	g.st = out;
	g.cutoff =
	    time(NULL) - (time_t)(o->grace_seconds > 0 ? o->grace_seconds : 0);
	rc = walk_repos(s, gc_repo, &g, &werr);
	if (g.oom) {
		rc = err_set(err, ERR_FAIL, "gc %s: out of memory", s->root);
		goto out;
	}
	if (rc) {
		warn(&g, "%s; no blob files are removed in this run", werr.msg);
		out->blob_sweep_skipped = 1;
	}
	rc = 0;
	if (!out->blob_sweep_skipped)
		sweep_blobs(&g);
	sweep_tmp(&g);
	if (g.oom)
		rc = err_set(err, ERR_FAIL, "gc %s: out of memory", s->root);
out:
	dset_release(&g.keep);
	dset_release(&g.rman);
	dset_release(&g.rblob);
	free(g.q);
	free(g.rdir);
	return rc;
}
