#include "mirror/push.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mirror/store/walk.h"
#include "oci/manifest.h"
#include "oci/mediatype.h"
#include "registry/upload.h"
#include "oci/vec.h"

#define MAX_DEPTH 4

/* A blob known to be in (host, repo) of a destination in this run. */
struct known {
	char *host, *repo;
	struct oci_digest digest;
};

struct run {
	const struct store *s;
	struct reg_pool *pool;
	const struct push_options *o;
	struct known *known;
	size_t n_known, cap_known;
	/* per item */
	const struct push_item *item;
	struct push_result *res;
	struct reg_client *c;
	const char *repo; /* destination path */
	struct oci_digest *pushed;
	size_t n_pushed, cap_pushed;
};

static void emit(struct run *r, enum push_event_kind kind, const char *ref,
		 const char *digest, const char *how, int64_t bytes, int result,
		 const char *message)
{
	struct push_event ev = {kind, ref, digest, how, bytes, result, message};

	if (r->o->event)
		r->o->event(r->o->ctx, &ev);
}

static const struct known *known_find(const struct run *r, const char *repo,
				      const struct oci_digest *d)
{
	const char *host = reg_client_host(r->c);

	for (size_t i = 0; i < r->n_known; i++) {
		const struct known *k = &r->known[i];
		if (!strcmp(k->host, host) && oci_digest_equal(&k->digest, d) &&
		    (!repo || !strcmp(k->repo, repo)))
			return k;
	}
	return NULL;
}

static int known_add(struct run *r, const struct oci_digest *d)
{
	struct known *k;

	if (OCI_VEC_RESERVE(r->known, r->n_known, r->cap_known, 1, 0))
		return ERR_FAIL;
	k = &r->known[r->n_known];
	k->host = strdup(reg_client_host(r->c));
	k->repo = strdup(r->repo);
	k->digest = *d;
	if (!k->host || !k->repo) {
		free(k->host);
		free(k->repo);
		return ERR_FAIL;
	}
	r->n_known++;
	return 0;
}

static int push_blob(struct run *r, const struct oci_descriptor *desc,
		     struct err *err)
{
	const struct known *from;
	enum reg_upload_how how = 0;
	int64_t size = 0;
	int fd = -1, rc;

	r->res->blobs++;
	if (known_find(r, r->repo, &desc->digest)) {
		r->res->blobs_existing++;
		return 0;
	}
	rc = store_blob_open(&fd, &size, r->s, &desc->digest, err);
	if (rc == ERR_NOT_FOUND &&
	    oci_mediatype_is_nondistributable(desc->media_type)) {
		r->res->blobs--;
		return 0;
	}
	if (rc)
		goto out;
	if (size != desc->size) {
		rc = err_set(err, ERR_DIGEST,
			     "blob %s: %lld bytes in the store, descriptor "
			     "says %lld",
			     desc->digest.str, (long long)size,
			     (long long)desc->size);
		goto out;
	}
	rc = reg_client_blob_exists(r->c, NULL, r->repo, &desc->digest, err);
	if (rc < 0)
		goto out;
	if (rc == 1) {
		rc = known_add(r, &desc->digest);
		r->res->blobs_existing++;
		emit(r, PUSH_EV_BLOB, r->res->ref, desc->digest.str, "exists",
		     size, 0, NULL);
		goto out;
	}
	from = known_find(r, NULL, &desc->digest);
	rc = reg_client_upload_blob(r->c, &how, NULL, r->repo, &desc->digest,
				    size, fd, from ? from->repo : NULL,
				    r->o->chunk, err);
	if (rc)
		goto out;
	rc = known_add(r, &desc->digest);
	if (how == REG_UPLOAD_MOUNTED) {
		r->res->blobs_mounted++;
	} else {
		r->res->blobs_uploaded++;
		r->res->bytes_uploaded += (uint64_t)size;
	}
	emit(r, PUSH_EV_BLOB, r->res->ref, desc->digest.str,
	     how == REG_UPLOAD_MOUNTED ? "mounted" : "uploaded", size, 0, NULL);
out:
	if (rc < 0)
		emit(r, PUSH_EV_BLOB, r->res->ref, desc->digest.str, "failed",
		     desc->size, rc, err->msg);
	if (fd >= 0)
		close(fd);
	return rc < 0 ? rc : 0;
}

static int put_manifest(struct run *r, const struct oci_manifest *m,
			const char *ref, int *subject_out, struct err *err)
{
	char shown[OCI_REF_STR_MAX + 200];
	int rc;

	rc = reg_client_put_manifest(r->c, subject_out, r->repo, ref,
				     m->media_type, m->raw, m->raw_len, err);
	if (rc)
		return rc;
	r->res->manifests++;
	snprintf(shown, sizeof(shown), "%s/%s%s%s", reg_client_host(r->c),
		 r->repo, strchr(ref, ':') ? "@" : ":", ref);
	emit(r, PUSH_EV_MANIFEST, shown, m->digest.str, NULL,
	     (int64_t)m->raw_len, 0, NULL);
	return 0;
}

struct refs {
	json_t *arr;
};

static int collect_ref(void *ctx, const char *desc_json)
{
	struct refs *rs = ctx;
	json_t *j = json_loads(desc_json, 0, NULL);

	if (json_is_object(j))
		json_array_append_new(rs->arr, j);
	else
		json_decref(j);
	return 0;
}

static int push_manifest(struct run *r, const struct oci_digest *d,
			 const char *media_type, int depth, int *subject_out,
			 struct err *err);

/* Add the referrers of subject (already pushed) to the "sha256-<hex>" tag
 * index of the destination, for registries without the referrers API. */
static int update_fallback(struct run *r, const struct oci_digest *subject,
			   json_t *descs, struct err *err)
{
	struct reg_manifest old;
	char tag[OCI_TAG_MAX + 1];
	json_t *idx = NULL, *list, *it;
	char *text = NULL;
	size_t i, added = 0;
	int rc;

	snprintf(tag, sizeof(tag), "%s-%s", oci_digest_alg_name(subject->alg),
		 oci_digest_hex(subject));
	rc = reg_client_get_manifest(r->c, &old, r->repo, tag, err);
	if (rc == 0) {
		idx = json_loadb(old.body, old.len, 0, NULL);
		reg_manifest_release(&old);
	} else if (rc != ERR_NOT_FOUND) {
		return rc;
	}
	err_clear(err);
	if (!json_is_object(idx) ||
	    !json_is_array(json_object_get(idx, "manifests"))) {
		json_decref(idx);
		idx = json_pack("{s:i,s:s,s:[]}", "schemaVersion", 2,
				"mediaType", MT_OCI_INDEX, "manifests");
	}
	list = json_object_get(idx, "manifests");
	json_array_foreach (descs, i, it) {
		const char *dg =
		    json_string_value(json_object_get(it, "digest"));
		size_t k;
		json_t *e;
		int have = 0;

		json_array_foreach (list, k, e)
			if (dg &&
			    json_is_string(json_object_get(e, "digest")) &&
			    !strcmp(dg, json_string_value(
					    json_object_get(e, "digest"))))
				have = 1;
		if (!have && dg) {
			json_array_append(list, it);
			added++;
		}
	}
	if (added) {
		struct oci_manifest m;
		text = json_dumps(idx, JSON_COMPACT);
		rc = text ? oci_manifest_parse(&m, text, strlen(text),
					       MT_OCI_INDEX, err)
			  : err_set(err, ERR_FAIL, "out of memory");
		if (!rc) {
			rc = put_manifest(r, &m, tag, NULL, err);
			oci_manifest_release(&m);
		}
	}
	free(text);
	json_decref(idx);
	return rc;
}

static int push_referrers(struct run *r, const struct oci_digest *subject,
			  int depth, struct err *err)
{
	struct refs rs = {json_array()};
	json_t *it, *fallback = json_array();
	size_t i;
	int rc;

	rc = store_referrers_list(r->s, r->item->src_repo, subject, collect_ref,
				  &rs, err);
	if (rc == ERR_NOT_FOUND) {
		err_clear(err);
		rc = 0;
	}
	json_array_foreach (rs.arr, i, it) {
		struct oci_digest d;
		const char *mt =
		    json_string_value(json_object_get(it, "mediaType"));
		int subj = 0;

		if (rc)
			break;
		if (oci_digest_parse(
			&d,
			json_string_value(json_object_get(it, "digest"))
			    ? json_string_value(json_object_get(it, "digest"))
			    : "",
			NULL))
			continue;
		if (!store_blob_exists(NULL, r->s, &d))
			continue;
		rc = push_manifest(r, &d, mt, depth + 1, &subj, err);
		if (!rc && !subj)
			json_array_append(fallback, it);
	}
	if (!rc && json_array_size(fallback))
		rc = update_fallback(r, subject, fallback, err);
	json_decref(fallback);
	json_decref(rs.arr);
	return rc;
}

static int push_manifest(struct run *r, const struct oci_digest *d,
			 const char *media_type, int depth, int *subject_out,
			 struct err *err)
{
	struct oci_manifest m;
	char *raw = NULL;
	size_t len = 0;
	int rc, parsed = 0;

	if (depth > MAX_DEPTH)
		return err_set(err, ERR_INVALID,
			       "manifest %s: nested deeper than %d", d->str,
			       MAX_DEPTH);
	for (size_t i = 0; i < r->n_pushed; i++)
		if (oci_digest_equal(&r->pushed[i], d))
			return 0;
	rc = store_blob_read(&raw, &len, r->s, d, OCI_MANIFEST_MAX, err);
	if (rc)
		goto out;
	rc = oci_manifest_parse(&m, raw, len, media_type, err);
	if (rc)
		goto out;
	parsed = 1;
	if (m.kind == OCI_KIND_INDEX) {
		for (size_t i = 0; i < m.n_manifests && !rc; i++) {
			const struct oci_descriptor *c = &m.manifests[i];
			if (!store_blob_exists(NULL, r->s, &c->digest))
				continue; /* platform not pulled */
			rc = push_manifest(r, &c->digest, c->media_type,
					   depth + 1, NULL, err);
		}
	} else {
		if (m.has_config)
			rc = push_blob(r, &m.config, err);
		for (size_t i = 0; i < m.n_layers && !rc; i++)
			rc = push_blob(r, &m.layers[i], err);
	}
	if (rc)
		goto out;
	rc = put_manifest(r, &m, d->str, subject_out, err);
	if (rc)
		goto out;
	if (OCI_VEC_RESERVE(r->pushed, r->n_pushed, r->cap_pushed, 1, 0)) {
		rc = err_set(err, ERR_FAIL, "out of memory");
		goto out;
	}
	r->pushed[r->n_pushed++] = *d;
	rc = push_referrers(r, d, depth, err);
out:
	if (parsed)
		oci_manifest_release(&m);
	free(raw);
	return rc;
}

static int push_one(struct run *r, struct err *err)
{
	const struct push_item *it = r->item;
	struct store_ref top;
	struct oci_manifest m;
	char *raw = NULL, src[OCI_REF_STR_MAX];
	size_t len;
	int rc;

	snprintf(src, sizeof(src), "%s%s%s", it->src_repo,
		 it->src_tag ? ":" : "@",
		 it->src_tag ? it->src_tag : it->src_digest.str);
	if (it->src_tag)
		rc = store_tag_get(&top, r->s, it->src_repo, it->src_tag, err);
	else
		rc = store_manifest_get(&top, r->s, it->src_repo,
					&it->src_digest, err);
	if (rc) {
		if (rc == ERR_NOT_FOUND)
			err_set(err, ERR_NOT_FOUND, "%s: not in the store",
				src);
		return rc;
	}
	r->res->digest = top.digest;
	rc = reg_pool_get(r->pool, &r->c, it->dst.host, err);
	if (rc)
		return rc;
	r->repo = it->dst.path;
	rc = push_manifest(r, &top.digest, top.media_type, 0, NULL, err);
	if (rc || !it->dst.tag[0])
		return rc;
	rc = store_blob_read(&raw, &len, r->s, &top.digest, OCI_MANIFEST_MAX,
			     err);
	if (rc)
		return rc;
	rc = oci_manifest_parse(&m, raw, len, top.media_type, err);
	if (!rc) {
		rc = put_manifest(r, &m, it->dst.tag, NULL, err);
		oci_manifest_release(&m);
	}
	free(raw);
	return rc;
}

int push_run(struct push_result *results, const struct store *s,
	     struct reg_pool *pool, const struct push_item *items, size_t n,
	     const struct push_options *o)
{
	struct run r;
	int any = 0;

	memset(&r, 0, sizeof(r));
	r.s = s;
	r.pool = pool;
	r.o = o;
	for (size_t i = 0; i < n; i++) {
		struct push_result *res = &results[i];

		memset(res, 0, sizeof(*res));
		err_clear(&res->err);
		oci_ref_format(&items[i].dst, res->ref, sizeof(res->ref));
		r.item = &items[i];
		r.res = res;
		r.c = NULL;
		r.n_pushed = 0;
		res->result = push_one(&r, &res->err);
		if (res->result) {
			err_wrap(&res->err, "push %s: ", res->ref);
			any = 1;
		}
		emit(&r, PUSH_EV_DONE, res->ref,
		     res->digest.str[0] ? res->digest.str : NULL, NULL, 0,
		     res->result, res->result ? res->err.msg : NULL);
	}
	for (size_t i = 0; i < r.n_known; i++) {
		free(r.known[i].host);
		free(r.known[i].repo);
	}
	free(r.known);
	free(r.pushed);
	return any ? ERR_FAIL : 0;
}

int push_map_repo(struct oci_ref *out, const char *to, const char *repo,
		  struct err *err)
{
	char name[OCI_REPO_MAX * 2 + 4];
	size_t n;
	int rc;

	n = (size_t)snprintf(name, sizeof(name), "%s/", to);
	if (n >= sizeof(name))
		return err_set(err, ERR_INVALID, "push --to %s: too long", to);
	for (const char *p = repo; *p && n + 1 < sizeof(name); p++) {
		unsigned char ch = (unsigned char)tolower((unsigned char)*p);
		int ok = isalnum(ch) || ch == '.' || ch == '_' || ch == '-' ||
			 ch == '/';
		char c = ok ? (char)ch : '-';

		if (ch == '[' || ch == ']')
			continue;
		/* a component starts with a letter or digit and has no
		 * run of '-' made from several refused characters */
		if (c == '-' &&
		    (name[n - 1] == '/' || (!ok && name[n - 1] == '-')))
			continue;
		if (c == '/' && name[n - 1] == '-')
			n--;
		name[n++] = c;
	}
	while (n && name[n - 1] == '-')
		n--;
	name[n] = '\0';
	rc = oci_ref_parse_repo(out, name, err);
	if (rc)
		return err_wrap(err, "push %s to %s: ", repo, to);
	return 0;
}

static char *plan_keep(struct push_plan *p, const char *s, struct err *err)
{
	if (OCI_VEC_RESERVE(p->strs, p->n_strs, p->cap_strs, 1, 0))
		goto oom;
	if (!(p->strs[p->n_strs] = strdup(s)))
		goto oom;
	return p->strs[p->n_strs++];
oom:
	err_set(err, ERR_FAIL, "push plan: out of memory");
	return NULL;
}

static struct push_item *plan_add(struct push_plan *p, struct err *err)
{
	if (OCI_VEC_RESERVE(p->items, p->n, p->cap, 1, 0)) {
		err_set(err, ERR_FAIL, "push plan: out of memory");
		return NULL;
	}
	memset(&p->items[p->n], 0, sizeof(p->items[0]));
	return &p->items[p->n++];
}

struct plan_walk {
	struct push_plan *p;
	const char *to;
	struct err *err;
	int rc;
};

static int plan_visit(void *ctx, const char *repo, const char *tag,
		      const struct store_ref *ref)
{
	struct plan_walk *w = ctx;
	struct push_item *it;

	(void)ref;
	if (!tag)
		return 0;
	if (!(it = plan_add(w->p, w->err)) ||
	    !(it->src_repo = plan_keep(w->p, repo, w->err)) ||
	    !(it->src_tag = plan_keep(w->p, tag, w->err))) {
		w->rc = ERR_FAIL;
		return 1;
	}
	w->rc = push_map_repo(&it->dst, w->to, repo, w->err);
	if (w->rc)
		return 1;
	snprintf(it->dst.tag, sizeof(it->dst.tag), "%s", tag);
	return 0;
}

int push_plan_all(struct push_plan *out, const struct store *s, const char *to,
		  struct err *err)
{
	struct plan_walk w = {out, to, err, 0};
	int rc = walk_tags(s, NULL, plan_visit, &w, err);

	return w.rc ? w.rc : rc;
}

/* 1 when the reference text names a tag or digest after its last '/'. */
static int names_tag(const char *s)
{
	const char *slash = strrchr(s, '/');

	return strchr(slash ? slash : s, ':') || strchr(s, '@');
}

int push_plan_one(struct push_plan *out, const char *src, const char *dst,
		  struct err *err)
{
	struct oci_ref from;
	struct push_item *it;
	char repo[OCI_REPO_MAX];
	int rc;

	rc = oci_ref_parse(&from, src, err);
	if (rc)
		return rc;
	if (!(it = plan_add(out, err)))
		return ERR_FAIL;
	rc = oci_ref_parse(&it->dst, dst, err);
	if (rc) {
		out->n--;
		return rc;
	}
	oci_ref_repo(&from, repo, sizeof(repo));
	if (!(it->src_repo = plan_keep(out, repo, err)))
		return ERR_FAIL;
	if (from.tag[0]) {
		if (!(it->src_tag = plan_keep(out, from.tag, err)))
			return ERR_FAIL;
	} else {
		it->src_digest = from.digest;
	}
	if (!names_tag(dst))
		snprintf(it->dst.tag, sizeof(it->dst.tag), "%s", from.tag);
	it->dst.has_digest = 0;
	return 0;
}

void push_plan_release(struct push_plan *p)
{
	for (size_t i = 0; i < p->n_strs; i++)
		free(p->strs[i]);
	free(p->strs);
	free(p->items);
	memset(p, 0, sizeof(*p));
}
