/* The store's face: names and digests checked, records encoded, every
 * operation passed to the backend's table (backend.h). */
#include "mirror/store/store.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mirror/store/backend.h"
#include "mirror/store/fsutil.h"
#include "oci/buf.h"
#include "oci/ref.h"

#define RECORD_MAX 4096
#define KEY_MAX (OCI_DIGEST_MAX * 2 + 64)

int store_repo_valid(const char *repo)
{
	return oci_repo_name_valid(repo);
}

int store_open(struct store *s, const char *root, int create, struct err *err)
{
	int rc;

	s->ops = !strncmp(root, "s3://", 5) ? &s3_store_ops : &fs_store_ops;
	s->be = NULL;
	s->root = strdup(root);
	if (!s->root)
		return err_set(err, ERR_FAIL, "out of memory");
	rc = s->ops->open(&s->be, s->root, create, err);
	if (rc) {
		free(s->root);
		s->root = NULL;
	}
	return rc;
}

void store_close(struct store *s)
{
	if (s->be)
		s->ops->close(s->be);
	s->be = NULL;
	free(s->root);
	s->root = NULL;
}

int store_is_remote(const struct store *s)
{
	return (s->ops->flags & STORE_BE_REMOTE) != 0;
}

int store_is_shared(const struct store *s)
{
	return (s->ops->flags & STORE_BE_SHARED) != 0;
}

int store_blob_read_at(size_t *got_out, const struct store *s,
		       const struct oci_digest *d, uint64_t off, void *buf,
		       size_t len, struct err *err)
{
	*got_out = 0;
	return s->ops->blob_read_at(got_out, s->be, d, off, buf, len, err);
}

int store_blob_url(char **out, const struct store *s,
		   const struct oci_digest *d, unsigned ttl, struct err *err)
{
	*out = NULL;
	if (!s->ops->blob_url)
		return err_set(err, ERR_UNSUPPORTED,
			       "%s: the %s backend has no direct URLs", s->root,
			       s->ops->name);
	return s->ops->blob_url(out, s->be, d, ttl, err);
}

int store_lock(struct store *s, int wait, struct err *err)
{
	return s->ops->lock(s->be, wait, err);
}

void store_unlock(struct store *s)
{
	if (s->be)
		s->ops->unlock(s->be);
}

int store_blob_exists(int64_t *size_out, const struct store *s,
		      const struct oci_digest *d)
{
	return s->ops->blob_stat(size_out, s->be, d) > 0;
}

int store_blob_stat(int64_t *size_out, const struct store *s,
		    const struct oci_digest *d, struct err *err)
{
	int rc = s->ops->blob_stat(size_out, s->be, d);

	if (rc < 0)
		return err_set(err, rc,
			       "blob %s: the store cannot tell whether "
			       "it holds it",
			       d->str);
	return rc;
}

int store_blob_put(struct store *s, const struct oci_digest *expect,
		   const void *p, size_t n, struct err *err)
{
	struct store_writer *w;
	int rc;

	if (store_blob_exists(NULL, s, expect)) {
		struct oci_digest got;
		oci_digest_of(&got, expect->alg, p, n);
		if (!oci_digest_equal(&got, expect))
			return err_set(err, ERR_DIGEST,
				       "%s: digest mismatch: content is %s",
				       expect->str, got.str);
		return 0;
	}
	rc = store_writer_open(&w, s, expect, (int64_t)n, err);
	if (rc)
		return rc;
	rc = store_writer_write(w, p, n, err);
	if (!rc)
		rc = store_writer_commit(w, err);
	store_writer_free(w);
	return rc;
}

int store_blob_read(char **out, size_t *len_out, const struct store *s,
		    const struct oci_digest *d, size_t max, struct err *err)
{
	char what[OCI_DIGEST_MAX + 8];
	int64_t size;
	int fd, rc;

	*out = NULL;
	rc = store_blob_open(&fd, &size, s, d, err);
	if (rc)
		return rc;
	snprintf(what, sizeof(what), "blob %s", d->str);
	rc = fsutil_read_fd(out, len_out, fd, max, what, err);
	close(fd);
	return rc;
}

int store_blob_open(int *fd_out, int64_t *size_out, const struct store *s,
		    const struct oci_digest *d, struct err *err)
{
	return s->ops->blob_open(fd_out, size_out, s->be, d, err);
}

int store_blobs_each(const struct store *s, store_blob_fn cb, void *ctx,
		     struct err *err)
{
	return s->ops->blobs_each(s->be, cb, ctx, err);
}

int store_space_free(uint64_t *out, const struct store *s, struct err *err)
{
	*out = 0;
	if (!s->ops->space_free)
		return err_set(err, ERR_UNSUPPORTED,
			       "%s: the %s backend cannot tell its free space",
			       s->root, s->ops->name);
	return s->ops->space_free(out, s->be, err);
}

int store_blob_delete(struct store *s, const struct oci_digest *d,
		      struct err *err)
{
	return s->ops->blob_delete(s->be, d, err);
}

static char *ref_json(const struct store_ref *m)
{
	json_t *j =
	    json_pack("{s:s,s:s,s:I}", "digest", m->digest.str, "mediaType",
		      m->media_type, "size", (json_int_t)m->size);
	char *t = j ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	return t;
}

static int parse_ref_json(struct store_ref *out, const char *text, size_t n,
			  const char *repo, const char *key, struct err *err)
{
	json_t *j = json_loadb(text, n, 0, NULL);
	json_t *d = json_object_get(j, "digest");
	json_t *mt = json_object_get(j, "mediaType");
	json_t *sz = json_object_get(j, "size");
	int rc = 0;

	if (!json_is_string(d) || !json_is_string(mt) || !json_is_integer(sz) ||
	    oci_digest_parse(&out->digest, json_string_value(d), NULL)) {
		rc = err_set(err, ERR_INVALID, "%s/%s: malformed record", repo,
			     key);
	} else {
		snprintf(out->media_type, sizeof(out->media_type), "%s",
			 json_string_value(mt));
		out->size = (int64_t)json_integer_value(sz);
	}
	json_decref(j);
	return rc;
}

static int check_repo(const char *repo, struct err *err)
{
	if (!store_repo_valid(repo))
		return err_set(err, ERR_INVALID,
			       "invalid repository name \"%.300s\"", repo);
	return 0;
}

static int check_tag(const char *tag, struct err *err)
{
	if (!oci_tag_valid(tag))
		return err_set(err, ERR_INVALID, "invalid tag \"%.200s\"", tag);
	return 0;
}

/* Keys of a repository's records ("_manifests/sha256/<hex>"). */
static void digest_key(char *key, const char *kind, const struct oci_digest *d)
{
	snprintf(key, KEY_MAX, "%s/%s/%s", kind, oci_digest_alg_name(d->alg),
		 oci_digest_hex(d));
}

/* Checks repo and fills key with its record of digest d under kind. */
static int repo_digest_key(char *key, const char *repo, const char *kind,
			   const struct oci_digest *d, struct err *err)
{
	int rc = check_repo(repo, err);

	if (!rc)
		digest_key(key, kind, d);
	return rc;
}

/* Checks repo and tag and fills key with the tag's record
 * ("_tags/<tag>"). */
static int repo_tag_key(char *key, const char *repo, const char *tag,
			struct err *err)
{
	int rc = check_repo(repo, err);

	if (!rc)
		rc = check_tag(tag, err);
	if (!rc)
		snprintf(key, KEY_MAX, "_tags/%s", tag);
	return rc;
}

static int put_ref(struct store *s, const char *repo, const char *key,
		   const struct store_ref *m, struct err *err)
{
	char *text = ref_json(m);
	int rc = text ? s->ops->record_put(s->be, repo, key, text, err)
		      : err_set(err, ERR_FAIL, "out of memory");

	free(text);
	return rc;
}

static int get_ref(struct store_ref *out, const struct store *s,
		   const char *repo, const char *key, struct err *err)
{
	char *text;
	size_t n;
	int rc =
	    s->ops->record_get(&text, &n, s->be, repo, key, RECORD_MAX, err);

	if (rc)
		return rc;
	rc = parse_ref_json(out, text, n, repo, key, err);
	free(text);
	return rc;
}

int store_manifest_link(struct store *s, const char *repo,
			const struct store_ref *m, struct err *err)
{
	char key[KEY_MAX];
	int rc;

	rc = repo_digest_key(key, repo, "_manifests", &m->digest, err);
	if (rc)
		return rc;
	if (!store_blob_exists(NULL, s, &m->digest))
		return err_set(err, ERR_NOT_FOUND, "%s@%s: manifest not stored",
			       repo, m->digest.str);
	return put_ref(s, repo, key, m, err);
}

int store_manifest_get(struct store_ref *out, const struct store *s,
		       const char *repo, const struct oci_digest *d,
		       struct err *err)
{
	char key[KEY_MAX];
	int rc;

	rc = repo_digest_key(key, repo, "_manifests", d, err);
	if (rc)
		return rc;
	rc = get_ref(out, s, repo, key, err);
	if (rc == ERR_NOT_FOUND)
		err_set(err, rc, "%s@%s: manifest not in store", repo, d->str);
	return rc;
}

int store_tag_set(struct store *s, const char *repo, const char *tag,
		  const struct store_ref *m, struct err *err)
{
	char key[KEY_MAX];
	int rc;

	rc = repo_tag_key(key, repo, tag, err);
	if (rc)
		return rc;
	return put_ref(s, repo, key, m, err);
}

int store_tag_get(struct store_ref *out, const struct store *s,
		  const char *repo, const char *tag, struct err *err)
{
	char key[KEY_MAX];
	int rc;

	rc = repo_tag_key(key, repo, tag, err);
	if (rc)
		return rc;
	rc = get_ref(out, s, repo, key, err);
	if (rc == ERR_NOT_FOUND)
		err_set(err, rc, "%s:%s: tag not in store", repo, tag);
	return rc;
}

int store_tag_delete(struct store *s, const char *repo, const char *tag,
		     struct err *err)
{
	char key[KEY_MAX];
	int rc;

	rc = repo_tag_key(key, repo, tag, err);
	if (rc)
		return rc;
	return s->ops->record_delete(s->be, repo, key, err);
}

/* "_referrers/<alg>/<subject hex>", and the name of one referrer in it. */
static void referrer_key(char *key, const struct oci_digest *subject,
			 const struct oci_digest *referrer)
{
	digest_key(key, "_referrers", subject);
	if (referrer) {
		size_t n = strlen(key);
		snprintf(key + n, KEY_MAX - n, "/%s-%s",
			 oci_digest_alg_name(referrer->alg),
			 oci_digest_hex(referrer));
	}
}

int store_referrer_add(struct store *s, const char *repo,
		       const struct oci_digest *subject,
		       const struct oci_digest *referrer, const char *desc_json,
		       struct err *err)
{
	char key[KEY_MAX];
	int rc;

	rc = check_repo(repo, err);
	if (rc)
		return rc;
	referrer_key(key, subject, referrer);
	return s->ops->record_put(s->be, repo, key, desc_json, err);
}

int store_repo_exists(const struct store *s, const char *repo)
{
	if (!store_repo_valid(repo))
		return 0;
	return s->ops->record_exists(s->be, repo, "_tags") ||
	       s->ops->record_exists(s->be, repo, "_manifests");
}

int store_manifest_unlink(struct store *s, const char *repo,
			  const struct oci_digest *d, struct err *err)
{
	char key[KEY_MAX];
	char **tags = NULL;
	size_t n = 0;
	int rc;

	rc = repo_digest_key(key, repo, "_manifests", d, err);
	if (rc)
		return rc;
	rc = s->ops->record_delete(s->be, repo, key, err);
	if (rc)
		return rc;
	if (s->ops->record_list(&tags, &n, s->be, repo, "_tags", NULL))
		return 0;
	for (size_t i = 0; i < n; i++) {
		struct store_ref ref;

		snprintf(key, sizeof(key), "_tags/%s", tags[i]);
		if (!get_ref(&ref, s, repo, key, NULL) &&
		    oci_digest_equal(&ref.digest, d))
			s->ops->record_delete(s->be, repo, key, NULL);
	}
	fsutil_names_free(tags, n);
	return 0;
}

/* A referrer named "<alg>-<hex>" whose manifest record is gone. */
static int referrer_dropped(const struct store *s, const char *repo,
			    const char *name)
{
	char key[KEY_MAX], ds[OCI_DIGEST_MAX + 8];
	struct oci_digest rd;
	char *dash;

	snprintf(ds, sizeof(ds), "%s", name);
	dash = strchr(ds, '-');
	if (!dash)
		return 0;
	*dash = ':';
	if (oci_digest_parse(&rd, ds, NULL))
		return 0;
	digest_key(key, "_manifests", &rd);
	return !s->ops->record_exists(s->be, repo, key);
}

int store_referrers_list(const struct store *s, const char *repo,
			 const struct oci_digest *subject, store_referrer_fn cb,
			 void *ctx, struct err *err)
{
	char dir[KEY_MAX];
	char **names = NULL;
	size_t n = 0;
	int rc;

	rc = check_repo(repo, err);
	if (rc)
		return rc;
	referrer_key(dir, subject, NULL);
	rc = s->ops->record_list(&names, &n, s->be, repo, dir, err);
	if (rc)
		return rc;
	for (size_t i = 0; i < n && !rc; i++) {
		char key[KEY_MAX * 2], *text = NULL;
		size_t len;
		int got;

		if (referrer_dropped(s, repo, names[i]))
			continue;
		snprintf(key, sizeof(key), "%s/%s", dir, names[i]);
		got = s->ops->record_get(&text, &len, s->be, repo, key,
					 RECORD_MAX, err);
		/* gone meanwhile, or not a referrer record: skipped; a
		 * record that cannot be read fails the list */
		if (got == ERR_NOT_FOUND || got == ERR_TOO_LARGE)
			continue;
		if (got) {
			rc = got;
			break;
		}
		if (cb(ctx, text))
			rc = 1;
		free(text);
	}
	fsutil_names_free(names, n);
	return rc < 0 ? rc : 0;
}

int store_blob_link(struct store *s, const char *repo,
		    const struct oci_digest *d, struct err *err)
{
	char key[KEY_MAX];
	int rc;

	rc = repo_digest_key(key, repo, "_blobs", d, err);
	if (rc)
		return rc;
	if (s->ops->record_exists(s->be, repo, key))
		return 0;
	/* a fresh mtime on the blob keeps a concurrent gc (grace period)
	 * from sweeping a blob that is being linked right now */
	s->ops->blob_touch(s->be, d);
	return s->ops->record_put(s->be, repo, key, "", err);
}

int store_blob_linked(const struct store *s, const char *repo,
		      const struct oci_digest *d)
{
	char key[KEY_MAX];

	if (!store_repo_valid(repo))
		return 0;
	digest_key(key, "_blobs", d);
	return s->ops->record_exists(s->be, repo, key);
}

int store_blob_unlink(struct store *s, const char *repo,
		      const struct oci_digest *d, struct err *err)
{
	char key[KEY_MAX];
	int rc;

	rc = repo_digest_key(key, repo, "_blobs", d, err);
	if (rc)
		return rc;
	return s->ops->record_delete(s->be, repo, key, err);
}

int store_name_split(char *repo_out, char *tag_out, const char *name,
		     struct err *err)
{
	const char *slash = strrchr(name, '/');
	const char *colon = strrchr(slash ? slash : name, ':');
	size_t rl = colon ? (size_t)(colon - name) : strlen(name);

	tag_out[0] = '\0';
	repo_out[0] = '\0';
	if (rl >= OCI_REPO_MAX || (colon && strlen(colon + 1) > OCI_TAG_MAX))
		return err_set(err, ERR_INVALID,
			       "invalid name \"%.300s\": too long", name);
	memcpy(repo_out, name, rl);
	repo_out[rl] = '\0';
	if (colon)
		snprintf(tag_out, OCI_TAG_MAX + 1, "%s", colon + 1);
	if (!store_repo_valid(repo_out))
		return err_set(err, ERR_INVALID,
			       "invalid name \"%.300s\": bad repository", name);
	if (colon && !oci_tag_valid(tag_out))
		return err_set(err, ERR_INVALID,
			       "invalid name \"%.300s\": bad tag", name);
	return 0;
}
