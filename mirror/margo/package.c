#include "mirror/margo/package.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mirror/file.h"
#include "mirror/margo/description.h"
#include "oci/mediatype.h"
#include "oci/yaml.h"
#include "registry/engine.h"
#include "registry/upload.h"

#define DESC_MAX (1024u * 1024)
#define RESOURCE_MAX (256u * 1024 * 1024)
#define MAX_FILES 8

static const char *const resource_kinds[] = {"icon", "descriptionFile",
					     "licenseFile", "releaseNotes"};
/* org.margo.app.resource: the dotted path of the field naming the file
 * (the application-registry page makes the key a MUST; its earlier
 * revision gave this value, the only one ever published) */
static const char *const resource_paths[] = {
    "metadata.catalog.application.icon",
    "metadata.catalog.application.descriptionFile",
    "metadata.catalog.application.licenseFile",
    "metadata.catalog.application.releaseNotes"};

struct pkgfile {
	char path[1024]; /* relative to the package directory, normalised */
	const char *resource; /* "metadata.catalog.application.icon", ... */
	char media_type[128];
	struct oci_digest digest;
	int64_t size;
	/* what is hashed and pushed: the bytes of margo.yaml that were
	 * validated, or the resource opened once (-1: none) */
	const char *data;
	int fd;
};

/* "png", "jpeg", "markdown", "plain", "pdf", ... from a file name */
static const char *format_of(const char *path)
{
	const char *dot = strrchr(path, '.');

	if (!dot || strchr(dot, '/'))
		return "octet-stream";
	dot++;
	if (!strcasecmp(dot, "jpg") || !strcasecmp(dot, "jpeg"))
		return "jpeg";
	if (!strcasecmp(dot, "md") || !strcasecmp(dot, "markdown"))
		return "markdown";
	if (!strcasecmp(dot, "txt"))
		return "plain";
	if (!strcasecmp(dot, "svg"))
		return "svg+xml";
	return dot;
}

/* Hash and size f's open file, refusing one over RESOURCE_MAX. */
static int file_digest(struct pkgfile *f, const struct stat *st,
		       struct err *err)
{
	char buf[65536];
	struct oci_hasher h;
	off_t off = 0;
	ssize_t r;

	if (st->st_size > (off_t)RESOURCE_MAX)
		return err_set(err, ERR_TOO_LARGE,
			       "package file %s: larger than %u bytes", f->path,
			       RESOURCE_MAX);
	oci_hasher_init(&h, OCI_SHA256);
	while (off <= (off_t)RESOURCE_MAX &&
	       (r = pread(f->fd, buf, sizeof(buf), off)) > 0) {
		oci_hasher_update(&h, buf, (size_t)r);
		off += r;
	}
	oci_hasher_final(&h, &f->digest);
	oci_hasher_release(&h);
	if (r < 0)
		return err_set(err, ERR_FAIL, "read %s: %s", f->path,
			       strerror(errno));
	if (off > (off_t)RESOURCE_MAX)
		return err_set(err, ERR_TOO_LARGE,
			       "package file %s: larger than %u bytes", f->path,
			       RESOURCE_MAX);
	f->size = off;
	return 0;
}

static void files_close(struct pkgfile *files, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (files[i].fd >= 0) {
			close(files[i].fd);
			files[i].fd = -1;
		}
}

/* The layers of the package: margo.yaml as the len bytes desc, and each
 * resource it names, opened once (files_close them). */
static int collect(struct pkgfile *files, size_t *n, char *version,
		   const char *dir, const char *desc, size_t len,
		   struct err *err)
{
	static const struct oci_yaml_limits lim = {
	    DESC_MAX, OCI_YAML_DEPTH_MAX, OCI_YAML_NODES_MAX,
	    OCI_YAML_EXPAND_MAX, OCI_YAML_ANCHORS_MAX};
	char path[4200];
	struct oci_yaml doc;
	yaml_node_t *root, *meta, *app;
	int rc;

	*n = 0;
	snprintf(path, sizeof(path), "%s/margo.yaml", dir);
	if (len > DESC_MAX)
		return err_set(err, ERR_TOO_LARGE, "%s: larger than %u bytes",
			       path, DESC_MAX);
	if ((rc = oci_yaml_load(&doc, path, desc, len, &lim, err)))
		return rc;
	root = oci_yaml_root(&doc);
	meta = oci_yaml_map_get(&doc.doc, root, "metadata", NULL, NULL);
	app = oci_yaml_map_get(
	    &doc.doc, oci_yaml_map_get(&doc.doc, meta, "catalog", NULL, NULL),
	    "application", NULL, NULL);
	snprintf(version, OCI_TAG_MAX + 1, "%s",
		 oci_yaml_scalar(
		     oci_yaml_map_get(&doc.doc, meta, "version", NULL, NULL))
		     ?: "");
	memset(&files[0], 0, sizeof(files[0]));
	snprintf(files[0].path, sizeof(files[0].path), "margo.yaml");
	snprintf(files[0].media_type, sizeof(files[0].media_type), "%s",
		 MT_MARGO_DESC);
	files[0].data = desc;
	files[0].size = (int64_t)len;
	files[0].fd = -1;
	oci_digest_of(&files[0].digest, OCI_SHA256, desc, len);
	(*n)++;
	for (size_t k = 0; k < 4 && !rc; k++) {
		const char *v = oci_yaml_scalar(oci_yaml_map_get(
		    &doc.doc, app, resource_kinds[k], NULL, NULL));
		struct pkgfile *f = &files[*n];
		struct stat st;
		char shown[200];
		struct err e;

		if (!v || margo_resource_is_url(v))
			continue;
		memset(f, 0, sizeof(*f));
		err_clear(&e);
		rc = margo_resource_open(&f->fd, &st, f->path, sizeof(f->path),
					 dir, v, &e);
		if (rc) {
			err_shown(shown, sizeof(shown), v, strlen(v));
			err_set(err, rc,
				"%s: metadata.catalog.application.%s \"%s\" "
				"%s",
				path, resource_kinds[k], shown, e.msg);
			break;
		}
		(*n)++;
		f->resource = resource_paths[k];
		snprintf(f->media_type, sizeof(f->media_type),
			 MT_MARGO_RESOURCE_FMT, resource_kinds[k],
			 format_of(f->path));
		rc = file_digest(f, &st, err);
	}
	oci_yaml_release(&doc);
	if (!rc && !version[0])
		rc = err_set(err, ERR_INVALID,
			     "%s: metadata.version is missing", path);
	return rc;
}

static char *manifest_json(const struct pkgfile *files, size_t n)
{
	json_t *layers = json_array(), *m;
	char *t;

	for (size_t i = 0; i < n; i++) {
		json_t *ann = json_pack("{s:s}", ANN_TITLE, files[i].path);

		if (files[i].resource)
			json_object_set_new(ann, ANN_MARGO_RESOURCE,
					    json_string(files[i].resource));
		json_array_append_new(
		    layers,
		    json_pack("{s:s,s:s,s:I,s:o}", "mediaType",
			      files[i].media_type, "digest",
			      files[i].digest.str, "size",
			      (json_int_t)files[i].size, "annotations", ann));
	}
	m = json_pack("{s:i,s:s,s:s,s:{s:s,s:s,s:i,s:s},s:o}", "schemaVersion",
		      2, "mediaType", MT_OCI_MANIFEST, "artifactType",
		      MT_MARGO_APP, "config", "mediaType", MT_OCI_EMPTY,
		      "digest", OCI_EMPTY_DIGEST, "size", 2, "data",
		      "e30=", "layers", layers);
	t = json_dumps(m, JSON_COMPACT);
	json_decref(m);
	return t;
}

static int put_local_file(struct store *s, const char *repo,
			  const struct pkgfile *f, struct err *err)
{
	char buf[65536];
	struct store_writer *w = NULL;
	off_t off = 0;
	ssize_t r = 0;
	int rc = 0;

	if (f->data)
		rc = store_blob_put(s, &f->digest, f->data, (size_t)f->size,
				    err);
	else if (!store_blob_exists(NULL, s, &f->digest)) {
		rc = store_writer_open(&w, s, &f->digest, f->size, err);
		while (!rc && off < f->size &&
		       (r = pread(f->fd, buf, sizeof(buf), off)) > 0) {
			rc = store_writer_write(w, buf, (size_t)r, err);
			off += r;
		}
		if (!rc && r < 0)
			rc = err_set(err, ERR_FAIL, "read %s: %s", f->path,
				     strerror(errno));
		if (!rc) /* changed since hashed? refused */
			rc = store_writer_commit(w, err);
		if (w)
			store_writer_free(w);
	}
	if (rc)
		return rc;
	return store_blob_link(s, repo, &f->digest, err);
}

/* An unlinked file holding len bytes, to upload from. -1 on failure. */
static int bytes_fd(const char *data, size_t len)
{
	char tmpl[] = "/tmp/ocimirror-push-XXXXXX";
	int fd = mkostemp(tmpl, O_CLOEXEC);

	if (fd < 0)
		return -1;
	unlink(tmpl);
	if (write(fd, data, len) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	return fd;
}

/* One blob of a package pushed to a registry: its existence check, then,
 * when the registry lacks it, its upload, each a job on the engine. */
struct pblob {
	struct reg_client *c;
	const char *repo;
	struct oci_digest d;
	int64_t size;
	const struct pkgfile *f; /* NULL: the empty config */
	int fd;			 /* a temp file of the bytes, or -1 */
	int rc;
	struct err e;
};

static void pblob_uploaded(void *ctx, int rc, enum reg_upload_how how,
			   int patches, const struct err *err)
{
	struct pblob *b = ctx;

	(void)how;
	(void)patches;
	if (b->fd >= 0) {
		close(b->fd);
		b->fd = -1;
	}
	b->rc = rc;
	if (rc)
		b->e = *err;
}

static void pblob_checked(void *ctx, int rc, int64_t size,
			  const struct err *err)
{
	struct pblob *b = ctx;
	int fd;

	(void)size;
	if (rc) {
		b->rc = rc < 0 ? rc : 0; /* 1: present */
		if (rc < 0)
			b->e = *err;
		return;
	}
	/* the resource as opened once; the bytes of margo.yaml and of the
	 * empty config from memory */
	if (b->f && !b->f->data)
		fd = b->f->fd;
	else
		fd = b->fd = b->f ? bytes_fd(b->f->data, (size_t)b->f->size)
				  : bytes_fd("{}", 2);
	if (fd < 0) {
		b->rc = err_set(&b->e, ERR_FAIL, "temp file for %s: %s",
				b->f ? b->f->path : "config", strerror(errno));
		return;
	}
	err_clear(&b->e);
	b->rc = reg_client_upload_blob_async(b->c, b->repo, &b->d, b->size, fd,
					     NULL, 0, pblob_uploaded, b, &b->e);
	if (b->rc && b->fd >= 0) {
		close(b->fd);
		b->fd = -1;
	}
}

/* Every layer and the empty config into ref's repository, at once: each
 * checked, the missing ones uploaded. The first failure in layer order
 * is the result, as when they went one after another. */
static int push_blobs(struct reg_client *c, const struct oci_ref *ref,
		      const struct pkgfile *files, size_t n,
		      const struct oci_digest *empty, struct err *err)
{
	struct pblob b[MAX_FILES + 1];
	struct reg_engine *e = reg_client_engine(c);
	int rc = 0;

	if (!e)
		return err_set(err, ERR_FAIL, "%s: out of memory",
			       reg_client_host(c));
	for (size_t i = 0; i <= n; i++) {
		memset(&b[i], 0, sizeof(b[i]));
		b[i].c = c;
		b[i].repo = ref->path;
		b[i].d = i < n ? files[i].digest : *empty;
		b[i].size = i < n ? files[i].size : 2;
		b[i].f = i < n ? &files[i] : NULL;
		b[i].fd = -1;
		b[i].rc = reg_client_blob_exists_async(
		    c, ref->path, &b[i].d, pblob_checked, &b[i], &b[i].e);
	}
	reg_engine_run(e);
	for (size_t i = 0; i <= n && !rc; i++) {
		if (b[i].fd >= 0)
			close(b[i].fd);
		if ((rc = b[i].rc) && err)
			*err = b[i].e;
	}
	return rc;
}

int margo_package_push(struct margo_push_result *out, struct store *s,
		       struct reg_pool *pool, const char *dir, const char *desc,
		       size_t desc_len, const struct oci_ref *ref,
		       const char *store_repo, struct err *err)
{
	struct pkgfile files[MAX_FILES];
	size_t n = 0;
	char *man = NULL, *text = NULL, path[4200];
	struct oci_digest empty;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!s && !pool)
		return err_set(err, ERR_INVALID,
			       "app push: no store and no registry");
	if (!desc) {
		snprintf(path, sizeof(path), "%s/margo.yaml", dir);
		if ((rc = file_read_capped(&text, &desc_len, path, DESC_MAX,
					   err)))
			return rc;
		desc = text;
	}
	rc = collect(files, &n, out->version, dir, desc, desc_len, err);
	if (rc)
		goto out;
	snprintf(out->tag, sizeof(out->tag), "%s",
		 ref->tag[0] ? ref->tag : out->version);
	for (char *p = out->tag; *p; p++)
		if (*p == '+')
			*p = '_';
	if (!oci_tag_valid(out->tag)) {
		rc = err_set(
		    err, ERR_INVALID,
		    "tag \"%s\" (from metadata.version) is not a valid tag",
		    out->tag);
		goto out;
	}
	man = manifest_json(files, n);
	if (!man) {
		rc = err_set(err, ERR_FAIL, "out of memory");
		goto out;
	}
	oci_digest_of(&out->digest, OCI_SHA256, man, strlen(man));
	oci_digest_parse(&empty, OCI_EMPTY_DIGEST, NULL);
	out->layers = n;
	if (s) {
		struct store_ref sr;

		rc = store_blob_put(s, &empty, "{}", 2, err);
		if (!rc)
			rc = store_blob_link(s, store_repo, &empty, err);
		for (size_t i = 0; i < n && !rc; i++)
			rc = put_local_file(s, store_repo, &files[i], err);
		sr.digest = out->digest;
		snprintf(sr.media_type, sizeof(sr.media_type), "%s",
			 MT_OCI_MANIFEST);
		sr.size = (int64_t)strlen(man);
		if (!rc)
			rc = store_blob_put(s, &out->digest, man, strlen(man),
					    err);
		if (!rc)
			rc = store_manifest_link(s, store_repo, &sr, err);
		if (!rc)
			rc = store_tag_set(s, store_repo, out->tag, &sr, err);
	} else {
		struct reg_client *c;

		rc = reg_pool_get(pool, &c, ref->host, err);
		if (!rc)
			rc = push_blobs(c, ref, files, n, &empty, err);
		if (!rc)
			rc = reg_client_put_manifest(c, NULL, ref->path,
						     out->tag, MT_OCI_MANIFEST,
						     man, strlen(man), err);
	}
out:
	files_close(files, n);
	free(man);
	free(text);
	return rc;
}

int margo_push_target_parse(struct margo_push_target *out, const char *spec,
			    struct err *err)
{
	const char *slash;
	int rc;

	memset(out, 0, sizeof(*out));
	out->to_store = !strncmp(spec, "store:", 6);
	if (out->to_store)
		spec += 6;
	if ((rc = oci_ref_parse(&out->ref, spec, err)))
		return rc;
	if (out->ref.has_digest)
		return err_set(err, ERR_INVALID,
			       "REF takes a tag, not a digest");
	/* a ref without a tag takes metadata.version: drop the default */
	slash = strrchr(spec, '/');
	if (!strchr(slash ? slash : spec, ':'))
		out->ref.tag[0] = '\0';
	if (!out->to_store) {
		oci_ref_repo(&out->ref, out->repo, sizeof(out->repo));
		return 0;
	}
	{
		char unused[OCI_TAG_MAX + 1];

		if (store_name_split(out->repo, unused, spec, NULL)) {
			char shown[200];

			err_shown(shown, sizeof(shown), spec, strlen(spec));
			return err_set(err, ERR_INVALID,
				       "invalid repository \"%s\"", shown);
		}
	}
	return 0;
}
