/* The images a Helm chart or Compose archive runs. See margo_images.h. */
#include "mirror/margo/images.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <yaml.h>

#include "oci/buf.h"
#include "oci/yaml.h"
#include "oci/vec.h"

#define NAME_MAX_LEN 1024     /* archive entry names */
#define YAML_NODES_MAX 200000 /* per document */
#define WALK_MAX 2000000      /* nodes visited, aliases counted each time */
#define DEPTH_MAX 64
#define NEST_MAX 2 /* packed subcharts inside packed subcharts */
#define INTERP_DEPTH 8

void margo_images_release(struct margo_images *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* Append raw (a reference as written) or a problem; the same reference
 * found twice is kept once. */
static int add(struct margo_images *l, const char *raw, const char *where,
	       const char *problem)
{
	struct margo_image im;
	struct oci_ref r;
	struct err e;

	memset(&im, 0, sizeof(im));
	snprintf(im.where, sizeof(im.where), "%s", where);
	if (problem) {
		snprintf(im.problem, sizeof(im.problem), "%s", problem);
	} else if (oci_ref_parse(&r, raw, &e)) {
		char shown[120];

		err_shown(shown, sizeof(shown), raw, strlen(raw));
		snprintf(im.problem, sizeof(im.problem),
			 "\"%s\" is not an image reference: %s", shown, e.msg);
	} else {
		oci_ref_format(&r, im.ref, sizeof(im.ref));
	}
	for (size_t i = 0; i < l->n; i++)
		if (im.ref[0] ? !strcmp(l->v[i].ref, im.ref)
			      : !strcmp(l->v[i].where, im.where) &&
				    !strcmp(l->v[i].problem, im.problem))
			return 0;
	if (l->n >= MARGO_IMAGES_MAX)
		return ERR_TOO_LARGE;
	if (OCI_VEC_RESERVE(l->v, l->n, l->cap, 1, 0))
		return ERR_FAIL;
	l->v[l->n++] = im;
	return 0;
}

/* ---- archives ---------------------------------------------------------- */

struct afile {
	char *path; /* below the top-level directory */
	char *data;
	size_t len;
};

/* What a chart and all its packed subcharts may expand to, together. */
struct budget {
	uint64_t bytes;
	size_t entries;
};

struct ascan {
	char top[NAME_MAX_LEN];
	struct afile *files;
	size_t n;
	struct budget *budget;
	char **links; /* symbolic links seen so far (cleaned paths) */
	size_t n_links;
	/* 0: skip the entry, else the most bytes to keep of it */
	size_t (*want)(const char *path);
	char seen_other[64]; /* compose: a compose file under another name */
};

static void ascan_release(struct ascan *a)
{
	for (size_t i = 0; i < a->n; i++) {
		free(a->files[i].path);
		free(a->files[i].data);
	}
	free(a->files);
	a->files = NULL;
	a->n = 0;
	for (size_t i = 0; i < a->n_links; i++)
		free(a->links[i]);
	free(a->links);
	a->links = NULL;
	a->n_links = 0;
}

static int is_link(const struct ascan *a, const char *path, size_t n)
{
	for (size_t i = 0; i < a->n_links; i++)
		if (strlen(a->links[i]) == n && !memcmp(a->links[i], path, n))
			return 1;
	return 0;
}

/* 1 when path goes through a symbolic link seen before. */
static int through_link(const struct ascan *a, const char *path)
{
	for (const char *p = strchr(path, '/'); p; p = strchr(p + 1, '/'))
		if (is_link(a, path, (size_t)(p - path)))
			return 1;
	return 0;
}

static const struct afile *ascan_get(const struct ascan *a, const char *path)
{
	for (size_t i = 0; i < a->n; i++)
		if (!strcmp(a->files[i].path, path))
			return &a->files[i];
	return NULL;
}

/* The next '/'-separated component of *p (advanced past it): its start in
 * *start and its length; "" and "." come back as length 0, ".." as -1. At
 * the end, *start is NULL. */
static long next_comp(const char **p, const char **start)
{
	const char *s = *p;
	size_t n;

	if (!*s) {
		*start = NULL;
		return 0;
	}
	while (**p && **p != '/')
		(*p)++;
	n = (size_t)(*p - s);
	if (**p)
		(*p)++;
	*start = s;
	if (n == 1 && s[0] == '.')
		return 0;
	if (n == 2 && s[0] == '.' && s[1] == '.')
		return -1;
	return (long)n;
}

/* Normalise name into out: no "./", no empty or "." components. Returns
 * a reason when the name is refused, else NULL. */
static const char *clean_path(char *out, size_t cap, const char *name)
{
	size_t o = 0;
	const char *p = name;

	if (!*name)
		return "an empty name";
	if (*name == '/')
		return "an absolute path";
	for (;;) {
		const char *s;
		long c = next_comp(&p, &s);
		size_t n = c > 0 ? (size_t)c : 0;

		if (!s)
			break;
		if (c < 0)
			return "a \"..\" component";
		if (!n)
			continue;
		if (o + n + 2 > cap)
			return "a name too long";
		if (o)
			out[o++] = '/';
		memcpy(out + o, s, n);
		o += n;
	}
	out[o] = '\0';
	if (!o)
		return "an empty name";
	return NULL;
}

/* Does a symlink at path (cleaned, top included) with target stay inside
 * the top-level directory? */
static int link_stays(const char *path, const char *target)
{
	int depth = 0;
	const char *p;

	if (*target == '/')
		return 0;
	for (p = path; *p; p++) /* components of the link's directory */
		if (*p == '/')
			depth++;
	p = target;
	for (;;) {
		const char *s;
		long c = next_comp(&p, &s);

		if (!s)
			break;
		if (c < 0 && --depth < 1)
			return 0;
		if (c > 0)
			depth++;
	}
	return 1;
}

static int refuse(struct err *err, const char *name, const char *why)
{
	char shown[200];

	err_shown(shown, sizeof(shown), name, strlen(name));
	return err_set(err, ERR_INVALID, "archive entry \"%s\": %s; refused",
		       shown, why);
}

/* Check every entry of the .tar.gz at p, keeping the files a->want asks
 * for. Nothing is kept when any entry is refused. */
static int archive_scan(struct ascan *a, const void *p, size_t len,
			struct err *err)
{
	struct archive *ar = archive_read_new();
	struct archive_entry *e;
	int rc = 0, r;

	a->top[0] = '\0';
	if (!ar)
		return err_set(err, ERR_FAIL, "out of memory");
	archive_read_support_filter_gzip(ar);
	archive_read_support_format_tar(ar);
	if (archive_read_open_memory(ar, p, len) != ARCHIVE_OK) {
		rc = err_set(err, ERR_INVALID, "not a tar.gz archive: %s",
			     archive_error_string(ar));
		goto out;
	}
	while ((r = archive_read_next_header(ar, &e)) == ARCHIVE_OK) {
		char path[NAME_MAX_LEN], tpath[NAME_MAX_LEN];
		const char *name = archive_entry_pathname(e), *why, *rest;
		mode_t type = archive_entry_filetype(e);
		int64_t size = archive_entry_size(e);
		size_t topn, keep;

		if (!name)
			name = "";
		if (++a->budget->entries > MARGO_ARCHIVE_ENTRIES) {
			rc = err_set(err, ERR_TOO_LARGE,
				     "archive has more than %d entries",
				     MARGO_ARCHIVE_ENTRIES);
			goto out;
		}
		if ((why = clean_path(path, sizeof(path), name))) {
			rc = refuse(err, name, why);
			goto out;
		}
		topn = strcspn(path, "/");
		if (!a->top[0]) {
			memcpy(a->top, path, topn);
			a->top[topn] = '\0';
		} else if (strlen(a->top) != topn ||
			   memcmp(a->top, path, topn)) {
			rc = refuse(err, name,
				    "a second top-level directory (the archive "
				    "must hold exactly one)");
			goto out;
		}
		rest = path[topn] ? path + topn + 1 : NULL;
		if (!rest && type != AE_IFDIR) {
			rc = refuse(err, name,
				    "a file outside the top-level directory");
			goto out;
		}
		if (archive_entry_mode(e) & (S_ISUID | S_ISGID)) {
			rc = refuse(err, name, "a setuid or setgid bit");
			goto out;
		}
		if (through_link(a, path)) {
			rc =
			    refuse(err, name, "a path through a symbolic link");
			goto out;
		}
		if ((archive_entry_hardlink(e) || type == AE_IFLNK) && rest &&
		    a->want(rest)) {
			rc = refuse(err, name, "a link where a file is needed");
			goto out;
		}
		if (archive_entry_hardlink(e)) {
			const char *t = archive_entry_hardlink(e);

			if ((why = clean_path(tpath, sizeof(tpath), t)) ||
			    strncmp(tpath, a->top, strlen(a->top)) ||
			    (tpath[strlen(a->top)] != '/')) {
				rc =
				    refuse(err, name,
					   "a hard link leaving the directory");
				goto out;
			}
			if (is_link(a, tpath, strlen(tpath))) {
				rc = refuse(err, name,
					    "a hard link to a symbolic link");
				goto out;
			}
			continue;
		}
		if (type == AE_IFLNK) {
			const char *t = archive_entry_symlink(e);
			char **v;

			if (!t || !link_stays(path, t)) {
				rc = refuse(err, name,
					    "a symbolic link leaving the "
					    "directory");
				goto out;
			}
			if (a->n_links >= MARGO_ARCHIVE_LINKS) {
				rc =
				    err_set(err, ERR_TOO_LARGE,
					    "archive has more than %d symbolic "
					    "links",
					    MARGO_ARCHIVE_LINKS);
				goto out;
			}
			v = realloc(a->links, (a->n_links + 1) * sizeof(*v));
			if (v)
				a->links = v;
			if (!v || !(v[a->n_links] = strdup(path))) {
				rc = err_set(err, ERR_FAIL, "out of memory");
				goto out;
			}
			a->n_links++;
			continue;
		}
		if (type == AE_IFDIR)
			continue;
		if (type != AE_IFREG) {
			rc = refuse(err, name,
				    "a device, FIFO or socket (only files, "
				    "directories and links are allowed)");
			goto out;
		}
		if (size < 0 || (a->budget->bytes += (uint64_t)size) >
				    MARGO_ARCHIVE_EXPANDED) {
			rc = err_set(err, ERR_TOO_LARGE,
				     "archive expands past %u bytes",
				     MARGO_ARCHIVE_EXPANDED);
			goto out;
		}
		keep = a->want(rest);
		if (!keep) {
			if (!strncmp(rest, "docker-compose.", 15) ||
			    !strcmp(rest, "compose.yml"))
				snprintf(a->seen_other, sizeof(a->seen_other),
					 "%s", rest);
			continue;
		}
		if (ascan_get(a, rest)) {
			rc = refuse(err, name,
				    "a second entry of that name (a reader "
				    "and an unpacker would disagree)");
			goto out;
		}
		if ((uint64_t)size > keep) {
			rc = err_set(err, ERR_TOO_LARGE,
				     "%s/%s is larger than %zu bytes", a->top,
				     rest, keep);
			goto out;
		}
		{
			struct afile *v =
			    realloc(a->files, (a->n + 1) * sizeof(*v));
			struct afile *f;
			la_ssize_t got;

			if (!v) {
				rc = err_set(err, ERR_FAIL, "out of memory");
				goto out;
			}
			a->files = v;
			f = &a->files[a->n];
			f->path = strdup(rest);
			f->data = malloc((size_t)size + 1);
			f->len = 0;
			if (!f->path || !f->data) {
				free(f->path);
				free(f->data);
				rc = err_set(err, ERR_FAIL, "out of memory");
				goto out;
			}
			a->n++;
			while (f->len < (size_t)size &&
			       (got = archive_read_data(ar, f->data + f->len,
							(size_t)size -
							    f->len)) > 0)
				f->len += (size_t)got;
			if (f->len != (size_t)size) {
				rc = err_set(err, ERR_INVALID,
					     "archive truncated in %s/%s: %s",
					     a->top, rest,
					     archive_error_string(ar)
						 ?: "short read");
				goto out;
			}
			f->data[f->len] = '\0';
		}
	}
	if (r != ARCHIVE_EOF)
		rc = err_set(err, ERR_INVALID, "archive unreadable: %s",
			     archive_error_string(ar) ?: "bad tar.gz");
	else if (!a->top[0])
		rc = err_set(err, ERR_INVALID, "archive is empty");
out:
	archive_read_free(ar);
	if (rc)
		ascan_release(a);
	return rc;
}

/* ---- YAML -------------------------------------------------------------- */

static const struct oci_yaml_limits yaml_lim = {
    MARGO_YAML_MAX, OCI_YAML_DEPTH_MAX, YAML_NODES_MAX, OCI_YAML_EXPAND_MAX};

/* ---- values.yaml ------------------------------------------------------- */

/* A chart's values as Helm computes them: its own values.yaml, overridden
 * by what each parent chart says under the subchart's key (the top chart
 * last, so it wins). A layer is one document's node for the same place;
 * v[0] has the lowest priority. */
#define LAYERS_MAX 12

struct layer {
	yaml_document_t *doc;
	yaml_node_t *node;
};

struct layers {
	struct layer v[LAYERS_MAX];
	size_t n;
};

struct vwalk {
	struct margo_images *out;
	const char *file, *app_version, *global_registry;
	char *const *skip; /* top-level keys that belong to subcharts */
	size_t n_skip;
	size_t visits;
	int rc;
};

static void vadd(struct vwalk *w, const char *raw, const char *where,
		 const char *problem)
{
	if (!w->rc)
		w->rc = add(w->out, raw, where, problem);
}

static int image_key(const char *k)
{
	size_t n = strlen(k);

	return n >= 5 && !strcasecmp(k + n - 5, "image");
}

static const char TEMPLATED[] =
    "a template expression; it needs the chart rendered to resolve";

/* A field of an image mapping: the highest layer that has it (Helm's
 * override, an empty string included). */
static const char *field(const struct layers *l, const char *key)
{
	for (size_t i = l->n; i-- > 0;) {
		yaml_node_t *v = oci_yaml_map_get(l->v[i].doc, l->v[i].node,
						  key, NULL, NULL);

		if (v) {
			const char *s = oci_yaml_scalar(v);

			return s && *s && strcmp(s, "~") && strcmp(s, "null")
				   ? s
				   : NULL;
		}
	}
	return NULL;
}

static void image_map(struct vwalk *w, const struct layers *l,
		      const char *where)
{
	const char *repo = field(l, "repository");
	const char *reg =
	    w->global_registry ? w->global_registry : field(l, "registry");
	const char *tag = field(l, "tag");
	const char *dg = field(l, "digest");
	char ref[OCI_REF_STR_MAX + 64];

	if (!repo)
		return; /* an unused slot: no image here */
	if (!tag && !dg)
		tag = w->app_version;
	if (strstr(repo, "{{") || (reg && strstr(reg, "{{")) ||
	    (tag && strstr(tag, "{{")) || (dg && strstr(dg, "{{"))) {
		vadd(w, NULL, where, TEMPLATED);
		return;
	}
	if (!tag && !dg) {
		vadd(w, NULL, where,
		     "no tag or digest, and the chart has no appVersion");
		return;
	}
	snprintf(ref, sizeof(ref), "%s%s%s%s%s%s%s", reg ? reg : "",
		 reg ? "/" : "", repo, tag ? ":" : "", tag ? tag : "",
		 dg ? "@" : "", dg ? dg : "");
	vadd(w, ref, where, NULL);
}

/* The merged value at key k: the highest layer's, merged with the
 * mappings right under it when it is a mapping itself. */
static void child_layers(const struct layers *l, const char *k,
			 struct layers *out)
{
	struct layer tmp[LAYERS_MAX];
	size_t n = 0;

	for (size_t i = l->n; i-- > 0;) {
		yaml_node_t *v =
		    oci_yaml_map_get(l->v[i].doc, l->v[i].node, k, NULL, NULL);

		if (!v)
			continue;
		if (n && tmp[0].node->type != YAML_MAPPING_NODE)
			break; /* a scalar or list replaces what is below */
		if (n && v->type != YAML_MAPPING_NODE)
			continue; /* Helm skips it and merges on downward */
		tmp[n].doc = l->v[i].doc;
		tmp[n++].node = v;
	}
	out->n = n;
	for (size_t i = 0; i < n; i++)
		out->v[i] = tmp[n - 1 - i];
}

static int skipped(const struct vwalk *w, const char *k)
{
	for (size_t i = 0; i < w->n_skip; i++)
		if (!strcmp(w->skip[i], k))
			return 1;
	return 0;
}

static void vwalk(struct vwalk *w, const struct layers *l, char *path,
		  size_t plen, size_t cap, int depth)
{
	const struct layer *top;
	size_t per_key = 0;

	if (!l->n || depth > DEPTH_MAX || ++w->visits > WALK_MAX)
		return;
	top = &l->v[l->n - 1];
	if (top->node->type == YAML_SEQUENCE_NODE) {
		int i = 0;

		/* a list is replaced, never merged */
		for (yaml_node_item_t *it =
			 top->node->data.sequence.items.start;
		     it < top->node->data.sequence.items.top && !w->rc;
		     it++, i++) {
			struct layers one = {{{top->doc, NULL}}, 1};

			one.v[0].node = yaml_document_get_node(top->doc, *it);
			if (!one.v[0].node)
				continue;
			snprintf(path + plen, cap - plen, "[%d]", i);
			vwalk(w, &one, path, strlen(path), cap, depth + 1);
		}
		path[plen] = '\0';
		return;
	}
	if (top->node->type != YAML_MAPPING_NODE)
		return;
	/* with several layers each key is looked up in every mapping: that
	 * work counts against WALK_MAX too */
	for (size_t li = 0; l->n > 1 && li < l->n; li++)
		if (l->v[li].node->type == YAML_MAPPING_NODE)
			per_key +=
			    (size_t)(l->v[li].node->data.mapping.pairs.top -
				     l->v[li].node->data.mapping.pairs.start);
	for (size_t li = 0; li < l->n; li++) {
		const struct layer *y = &l->v[li];

		for (yaml_node_pair_t *p = y->node->data.mapping.pairs.start;
		     p < y->node->data.mapping.pairs.top; p++) {
			const char *k = oci_yaml_scalar(
			    yaml_document_get_node(y->doc, p->key));
			struct layers c;
			char where[256];
			size_t q;

			w->visits += 1 + 2 * per_key;
			if (w->visits > WALK_MAX || w->rc)
				break;
			if (!k || (depth == 0 && skipped(w, k)))
				continue;
			for (q = 0; q < li; q++) /* seen in a lower layer */
				if (oci_yaml_map_get(l->v[q].doc, l->v[q].node,
						     k, NULL, NULL))
					break;
			if (q < li)
				continue;
			if (l->n == 1) {
				c.n = 1;
				c.v[0].doc = y->doc;
				c.v[0].node =
				    yaml_document_get_node(y->doc, p->value);
			} else {
				child_layers(l, k, &c);
			}
			if (!c.n || !c.v[c.n - 1].node)
				continue;
			snprintf(path + plen, cap - plen, "%s%s",
				 plen ? "." : "", k);
			if (image_key(k)) {
				yaml_node_t *v = c.v[c.n - 1].node;

				snprintf(where, sizeof(where), "%s: %s",
					 w->file, path);
				if (v->type == YAML_SCALAR_NODE) {
					const char *s = oci_yaml_scalar(v);

					if (strstr(s, "{{"))
						vadd(w, NULL, where, TEMPLATED);
					else if (*s && strcmp(s, "~") &&
						 strcmp(s, "null"))
						vadd(w, s, where, NULL);
					continue;
				}
				if (field(&c, "repository")) {
					image_map(w, &c, where);
					continue;
				}
			}
			vwalk(w, &c, path, strlen(path), cap, depth + 1);
		}
	}
	path[plen] = '\0';
}

static int walk_done(const struct vwalk *w, const char *file, struct err *err)
{
	if (w->rc == ERR_TOO_LARGE)
		return err_set(err, ERR_TOO_LARGE,
			       "%s: more than %d image references", file,
			       MARGO_IMAGES_MAX);
	if (w->rc)
		return err_set(err, ERR_FAIL, "out of memory");
	if (w->visits > WALK_MAX)
		return err_set(err, ERR_TOO_LARGE,
			       "%s: more than %d nodes to walk (aliases "
			       "counted)",
			       file, WALK_MAX);
	return 0;
}

static const char *global_registry(yaml_document_t *d)
{
	yaml_node_t *root = yaml_document_get_root_node(d);

	return oci_yaml_map_str(d,
				oci_yaml_map_get(d, root, "global", NULL, NULL),
				"imageRegistry");
}

int margo_values_images(struct margo_images *out, const char *yaml, size_t len,
			const char *file, const char *app_version,
			const char *global, struct err *err)
{
	struct oci_yaml y;
	struct vwalk w;
	struct layers l = {{{NULL, NULL}}, 0};
	char path[200] = "";
	int rc;

	if ((rc = oci_yaml_load(&y, file, yaml, len, &yaml_lim, err)))
		return rc;
	memset(&w, 0, sizeof(w));
	w.out = out;
	w.file = file;
	w.app_version = app_version && *app_version ? app_version : NULL;
	w.global_registry =
	    global && *global ? global : global_registry(&y.doc);
	l.v[0].doc = &y.doc;
	l.v[0].node = yaml_document_get_root_node(&y.doc);
	l.n = l.v[0].node ? 1 : 0;
	vwalk(&w, &l, path, 0, sizeof(path), 0);
	oci_yaml_release(&y);
	return walk_done(&w, file, err);
}

/* ---- charts ------------------------------------------------------------ */

/* Chart.yaml and values.yaml of the chart and of unpacked subcharts
 * (charts/NAME/...), and packed subcharts (charts/NAME.tgz): every even
 * component but the last is "charts". */
static size_t chart_want(const char *path)
{
	size_t i = 0, n;
	const char *p = path, *last = path;

	for (;;) {
		n = strcspn(p, "/");
		if (!p[n])
			break;
		if (i % 2 == 0 && (n != 6 || strncmp(p, "charts", 6)))
			return 0;
		p += n + 1;
		last = p;
		i++;
	}
	if (i % 2 == 0)
		return !strcmp(last, "Chart.yaml") ||
			       !strcmp(last, "values.yaml")
			   ? MARGO_YAML_MAX
			   : 0;
	n = strlen(last);
	return n > 4 && !strcmp(last + n - 4, ".tgz") ? MARGO_ARCHIVE_MAX : 0;
}

/* One chart of an archive: the top one (prefix "") or an unpacked
 * subchart ("charts/a/", "charts/a/charts/b/"), or a packed one (an
 * archive of its own, scanned but not yet read). */
struct chart {
	char prefix[NAME_MAX_LEN];
	int parent;		/* index, -1 for the top chart */
	char key[128];		/* its values' key in the parent's */
	struct oci_yaml values; /* loaded when has_values */
	struct oci_yaml meta;	/* Chart.yaml, when has_meta */
	int has_values, has_meta;
	const char *app_version;
	struct ascan packed; /* packed: its scan (top = its directory) */
	int is_packed;
	char label[NAME_MAX_LEN + 300];
};

struct charts {
	struct chart *v;
	size_t n;
};

static void charts_release(struct charts *cs)
{
	for (size_t i = 0; i < cs->n; i++) {
		if (cs->v[i].has_values)
			oci_yaml_release(&cs->v[i].values);
		if (cs->v[i].has_meta)
			oci_yaml_release(&cs->v[i].meta);
		ascan_release(&cs->v[i].packed);
	}
	free(cs->v);
	memset(cs, 0, sizeof(*cs));
}

static struct chart *chart_new(struct charts *cs)
{
	struct chart *v = realloc(cs->v, (cs->n + 1) * sizeof(*v));

	if (!v)
		return NULL;
	cs->v = v;
	memset(&v[cs->n], 0, sizeof(v[0]));
	v[cs->n].parent = -1;
	return &v[cs->n++];
}

/* The key a parent keeps a subchart's values under: its alias in the
 * parent's dependencies when it has one, else its name. */
static void chart_key(struct chart *c, const struct chart *parent,
		      const char *name)
{
	snprintf(c->key, sizeof(c->key), "%s", name);
	if (!parent || !parent->has_meta)
		return;
	{
		yaml_document_t *d = (yaml_document_t *)&parent->meta.doc;
		yaml_node_t *deps =
		    oci_yaml_map_get(d, yaml_document_get_root_node(d),
				     "dependencies", NULL, NULL);

		if (!deps || deps->type != YAML_SEQUENCE_NODE)
			return;
		for (yaml_node_item_t *it = deps->data.sequence.items.start;
		     it < deps->data.sequence.items.top; it++) {
			yaml_node_t *dep = yaml_document_get_node(d, *it);
			const char *n = oci_yaml_map_str(d, dep, "name");
			const char *alias = oci_yaml_map_str(d, dep, "alias");

			if (n && alias && !strcmp(n, name)) {
				snprintf(c->key, sizeof(c->key), "%s", alias);
				return;
			}
		}
	}
}

static const char *meta_str(struct chart *c, const char *key)
{
	return c->has_meta
		   ? oci_yaml_map_str(&c->meta.doc,
				      yaml_document_get_root_node(&c->meta.doc),
				      key)
		   : NULL;
}

/* The layers of chart i's values: its own, then each ancestor's under
 * the keys down to it, then the outer archive's (ext, already in order),
 * each descended by the keys from this archive's top chart. */
static void chart_layers(struct charts *cs, size_t i, const struct layers *ext,
			 struct layers *out)
{
	const char *keys[LAYERS_MAX];
	size_t nk = 0;
	int cur = (int)i;

	out->n = 0;
	if (cs->v[i].has_values) {
		out->v[0].doc = &cs->v[i].values.doc;
		out->v[0].node =
		    yaml_document_get_root_node(&cs->v[i].values.doc);
		if (out->v[0].node && out->v[0].node->type == YAML_MAPPING_NODE)
			out->n = 1;
	}
	/* keys[0] is the key of i in its parent, keys[1] of the parent... */
	while (cs->v[cur].parent >= 0 && nk < LAYERS_MAX) {
		const struct chart *a;
		yaml_node_t *node;
		yaml_document_t *d;

		keys[nk++] = cs->v[cur].key;
		cur = cs->v[cur].parent;
		a = &cs->v[cur];
		if (!a->has_values || out->n == LAYERS_MAX)
			continue;
		d = (yaml_document_t *)&a->values.doc;
		node = yaml_document_get_root_node(d);
		for (size_t k = nk; k-- > 0 && node;)
			node = oci_yaml_map_get(d, node, keys[k], NULL, NULL);
		if (node && node->type == YAML_MAPPING_NODE) {
			out->v[out->n].doc = d;
			out->v[out->n++].node = node;
		}
	}
	for (size_t e = 0; ext && e < ext->n && out->n < LAYERS_MAX; e++) {
		yaml_node_t *node = ext->v[e].node;

		for (size_t k = nk; k-- > 0 && node;)
			node = oci_yaml_map_get(ext->v[e].doc, node, keys[k],
						NULL, NULL);
		if (node && node->type == YAML_MAPPING_NODE) {
			out->v[out->n].doc = ext->v[e].doc;
			out->v[out->n++].node = node;
		}
	}
}

static int chart_from_scan(struct margo_images *out, struct ascan *a,
			   const char *parent_global, const struct layers *ext,
			   const char *label, int nest, struct err *err);

static size_t slashes(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '/';
	return n;
}

/* Add the chart whose Chart.yaml (or packed .tgz) is file f. */
static int chart_add(struct charts *cs, struct ascan *a, const struct afile *f,
		     const char *label, int nest, struct err *err)
{
	size_t pl = strlen(f->path), dl, ql;
	int packed = pl > 4 && !strcmp(f->path + pl - 4, ".tgz");
	char prefix[NAME_MAX_LEN], name[128] = "";
	struct chart *c;

	if (!packed && (pl < 10 || strcmp(f->path + pl - 10, "Chart.yaml")))
		return 0;
	dl = packed ? (size_t)(strrchr(f->path, '/') - f->path) + 1 : pl - 10;
	snprintf(prefix, sizeof(prefix), "%.*s", (int)dl, f->path);
	/* the parent's prefix: without "charts/" (packed) or
	 * "charts/NAME/" (unpacked) at the end */
	ql = dl;
	if (!packed && ql) {
		ql--; /* the '/' closing NAME */
		while (ql && prefix[ql - 1] != '/')
			ql--;
		snprintf(name, sizeof(name), "%.*s", (int)(dl - 1 - ql),
			 prefix + ql);
	}
	if (ql)
		ql -= 7; /* "charts/" (chart_want allows nothing else) */
	if (!(c = chart_new(cs)))
		return err_set(err, ERR_FAIL, "out of memory");
	snprintf(c->prefix, sizeof(c->prefix), "%s", prefix);
	if (dl) {
		for (size_t k = 0; k + 1 < cs->n; k++)
			if (!cs->v[k].is_packed &&
			    strlen(cs->v[k].prefix) == ql &&
			    !strncmp(cs->v[k].prefix, prefix, ql))
				c->parent = (int)k;
		if (c->parent < 0) {
			cs->n--; /* no chart above it: not part of the chart */
			return 0;
		}
	}
	if (packed) {
		const struct afile *m;
		struct oci_yaml md;

		c->is_packed = 1;
		snprintf(c->label, sizeof(c->label), "%s%s/%s!", label, a->top,
			 f->path);
		if (nest >= NEST_MAX)
			return err_set(err, ERR_INVALID,
				       "%s: subcharts nested deeper than %d "
				       "archives",
				       c->label, NEST_MAX);
		c->packed.want = chart_want;
		c->packed.budget = a->budget;
		{
			int rc = archive_scan(&c->packed, f->data, f->len, err);

			if (rc)
				return rc;
		}
		snprintf(name, sizeof(name), "%s", c->packed.top);
		m = ascan_get(&c->packed, "Chart.yaml");
		if (m && !oci_yaml_load(&md, "Chart.yaml", m->data, m->len,
					&yaml_lim, err)) {
			const char *nm = oci_yaml_map_str(
			    &md.doc, yaml_document_get_root_node(&md.doc),
			    "name");

			if (nm)
				snprintf(name, sizeof(name), "%s", nm);
			oci_yaml_release(&md);
		}
		chart_key(c, &cs->v[c->parent], name);
		return 0;
	}
	{
		const struct afile *v;
		char vpath[NAME_MAX_LEN + 16], file[NAME_MAX_LEN + 300];
		int rc;

		snprintf(file, sizeof(file), "%s%s/%s", label, a->top, f->path);
		rc = oci_yaml_load(&c->meta, file, f->data, f->len, &yaml_lim,
				   err);
		if (rc)
			return rc;
		c->has_meta = 1;
		c->app_version = meta_str(c, "appVersion");
		snprintf(vpath, sizeof(vpath), "%svalues.yaml", prefix);
		snprintf(c->label, sizeof(c->label), "%s%s/%s", label, a->top,
			 vpath);
		v = ascan_get(a, vpath);
		if (v) {
			rc = oci_yaml_load(&c->values, c->label, v->data,
					   v->len, &yaml_lim, err);
			if (rc)
				return rc;
			c->has_values = 1;
		}
		if (c->parent >= 0)
			chart_key(c, &cs->v[c->parent],
				  meta_str(c, "name") ?: name);
	}
	return 0;
}

/* Every chart of the scanned archive a: values walked with the layers
 * above, packed subcharts read in turn with theirs. */
static int chart_from_scan(struct margo_images *out, struct ascan *a,
			   const char *parent_global, const struct layers *ext,
			   const char *label, int nest, struct err *err)
{
	struct charts cs = {NULL, 0};
	char global[256] = "";
	size_t max_depth = 0;
	int rc = 0;

	if (!ascan_get(a, "Chart.yaml"))
		return err_set(err, ERR_INVALID,
			       "%s%s: not a Helm chart (no %s/Chart.yaml)",
			       label, a->top, a->top);
	for (size_t i = 0; i < a->n; i++)
		if (slashes(a->files[i].path) > max_depth)
			max_depth = slashes(a->files[i].path);
	/* parents before children: by depth */
	for (size_t d = 0; !rc && d <= max_depth; d++)
		for (size_t i = 0; !rc && i < a->n; i++)
			if (slashes(a->files[i].path) == d)
				rc = chart_add(&cs, a, &a->files[i], label,
					       nest, err);
	/* Helm hands the top chart's globals down to every subchart */
	if (parent_global && *parent_global)
		snprintf(global, sizeof(global), "%s", parent_global);
	else if (!rc && cs.n && cs.v[0].has_values)
		snprintf(global, sizeof(global), "%s",
			 global_registry(&cs.v[0].values.doc) ?: "");
	for (size_t i = 0; !rc && i < cs.n; i++) {
		struct layers l;
		struct vwalk w;
		char **skip;
		char path[200] = "";

		chart_layers(&cs, i, ext, &l);
		if (cs.v[i].is_packed) {
			rc = chart_from_scan(out, &cs.v[i].packed, global, &l,
					     cs.v[i].label, nest + 1, err);
			continue;
		}
		if (!l.n)
			continue;
		memset(&w, 0, sizeof(w));
		w.out = out;
		w.file = cs.v[i].label;
		w.app_version = cs.v[i].app_version;
		w.global_registry = global[0] ? global : NULL;
		skip = calloc(cs.n, sizeof(*skip));
		if (!skip) {
			rc = err_set(err, ERR_FAIL, "out of memory");
			break;
		}
		w.skip = skip;
		for (size_t k = 0; k < cs.n; k++)
			if (cs.v[k].parent == (int)i)
				skip[w.n_skip++] = cs.v[k].key;
		vwalk(&w, &l, path, 0, sizeof(path), 0);
		free(skip);
		rc = walk_done(&w, cs.v[i].label, err);
	}
	charts_release(&cs);
	return rc;
}

static int chart_read(struct margo_images *out, const void *tgz, size_t len,
		      struct budget *budget, struct err *err)
{
	struct ascan a;
	int rc;

	memset(&a, 0, sizeof(a));
	a.want = chart_want;
	a.budget = budget;
	rc = archive_scan(&a, tgz, len, err);
	if (!rc)
		rc = chart_from_scan(out, &a, NULL, NULL, "", 0, err);
	ascan_release(&a);
	return rc;
}

/* Hand what tmp found to out, or nothing when rc says the archive failed. */
static int settle(struct margo_images *out, struct margo_images *tmp, int rc,
		  struct err *err)
{
	for (size_t i = 0; !rc && i < tmp->n; i++)
		if (add(out, tmp->v[i].ref[0] ? tmp->v[i].ref : NULL,
			tmp->v[i].where,
			tmp->v[i].ref[0] ? NULL : tmp->v[i].problem))
			rc = err_set(err, ERR_FAIL, "out of memory");
	margo_images_release(tmp);
	return rc;
}

int margo_chart_images(struct margo_images *out, const void *tgz, size_t len,
		       struct err *err)
{
	struct margo_images tmp = {0};
	struct budget b = {0, 0};

	return settle(out, &tmp, chart_read(&tmp, tgz, len, &b, err), err);
}

/* ---- compose ----------------------------------------------------------- */

/* The value of name in .env text, into val; 1 when set. As Compose reads
 * it: the last assignment wins, "export " is allowed, a quoted value is
 * taken between its quotes, and an unquoted one ends at " #". */
static int dotenv_get(const char *env, const char *name, char *val, size_t cap)
{
	size_t nl = strlen(name);
	const char *p = env;
	int found = 0;

	while (p && *p) {
		const char *e = strchr(p, '\n'), *v;
		size_t n;

		if (!e)
			e = p + strlen(p);
		while (p < e && (*p == ' ' || *p == '\t'))
			p++;
		if ((size_t)(e - p) > 7 && !strncmp(p, "export ", 7))
			p += 7;
		if ((size_t)(e - p) > nl && !strncmp(p, name, nl) &&
		    p[nl] == '=') {
			v = p + nl + 1;
			n = (size_t)(e - v);
			if (n && v[n - 1] == '\r')
				n--;
			if (n >= 2 && (v[0] == '"' || v[0] == '\'') &&
			    memchr(v + 1, v[0], n - 1)) {
				const char *q = memchr(v + 1, v[0], n - 1);

				n = (size_t)(q - v - 1);
				v++;
			} else {
				for (size_t k = 1; k < n; k++)
					if (v[k] == '#' && (v[k - 1] == ' ' ||
							    v[k - 1] == '\t')) {
						n = k;
						break;
					}
				while (n &&
				       (v[n - 1] == ' ' || v[n - 1] == '\t'))
					n--;
			}
			if (n >= cap)
				n = cap - 1;
			memcpy(val, v, n);
			val[n] = '\0';
			found = 1;
		}
		p = *e ? e + 1 : e;
	}
	return found;
}

static int name_start(char c)
{
	return c == '_' || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

static int name_char(char c)
{
	return name_start(c) || (c >= '0' && c <= '9');
}

/* $NAME or ${NAME}: its value, or a problem when it has none. */
static int var_value(struct buf *o, const char *env, const char *name,
		     char *problem, size_t pcap)
{
	char val[512];

	if (!dotenv_get(env, name, val, sizeof(val))) {
		snprintf(problem, pcap,
			 "variable %s is not set and has no default", name);
		return -1;
	}
	if (buf_puts(o, val)) {
		snprintf(problem, pcap, "value too long once interpolated");
		return -1;
	}
	return 0;
}

static int interp(struct buf *o, const char *s, size_t n, const char *env,
		  char *problem, size_t pcap, int depth)
{
	size_t i = 0;

	if (depth > INTERP_DEPTH) {
		snprintf(problem, pcap, "interpolation nested too deeply");
		return -1;
	}
	while (i < n) {
		char name[128], val[512];
		size_t k, nl, close;
		int set, level;

		if (s[i] != '$') {
			if (buf_append(o, s + i, 1))
				goto toolong;
			i++;
			continue;
		}
		if (i + 1 < n && s[i + 1] == '$') {
			if (buf_append(o, "$", 1))
				goto toolong;
			i += 2;
			continue;
		}
		if (i + 1 < n && name_start(s[i + 1])) {
			k = i + 1;
			while (k < n && name_char(s[k]))
				k++;
			nl = k - i - 1;
			if (nl >= sizeof(name))
				goto syntax;
			memcpy(name, s + i + 1, nl);
			name[nl] = '\0';
			if (var_value(o, env, name, problem, pcap))
				return -1;
			i = k;
			continue;
		}
		if (i + 1 >= n || s[i + 1] != '{')
			goto syntax;
		/* ${...}: find the matching brace */
		for (close = i + 2, level = 1; close < n; close++) {
			if (s[close] == '$' && close + 1 < n &&
			    s[close + 1] == '{') {
				level++;
				close++;
			} else if (s[close] == '}' && --level == 0) {
				break;
			}
		}
		if (close >= n)
			goto syntax;
		k = i + 2;
		while (k < close && name_char(s[k]))
			k++;
		nl = k - i - 2;
		if (!nl || nl >= sizeof(name))
			goto syntax;
		memcpy(name, s + i + 2, nl);
		name[nl] = '\0';
		set = dotenv_get(env, name, val, sizeof(val));
		if (k == close) {
			if (var_value(o, env, name, problem, pcap))
				return -1;
		} else {
			int colon = s[k] == ':';
			char op = s[k + (size_t)colon];
			const char *word = s + k + (size_t)colon + 1;
			size_t wl = (size_t)(s + close - word);
			int empty_unset = !set || (colon && !val[0]);

			if (k + (size_t)colon >= close ||
			    (op != '-' && op != '?' && op != '+'))
				goto syntax;
			if (op == '-') {
				if (empty_unset) {
					if (interp(o, word, wl, env, problem,
						   pcap, depth + 1))
						return -1;
				} else if (buf_puts(o, val)) {
					goto toolong;
				}
			} else if (op == '?') {
				if (empty_unset) {
					snprintf(problem, pcap,
						 "variable %s is required: "
						 "%.*s",
						 name,
						 (int)(wl > 100 ? 100 : wl),
						 word);
					return -1;
				}
				if (buf_puts(o, val))
					goto toolong;
			} else if (!empty_unset) {
				if (interp(o, word, wl, env, problem, pcap,
					   depth + 1))
					return -1;
			}
		}
		i = close + 1;
	}
	return 0;
toolong:
	snprintf(problem, pcap, "value too long once interpolated");
	return -1;
syntax:
	snprintf(problem, pcap, "invalid interpolation syntax");
	return -1;
}

int margo_interpolate(char *dst, size_t cap, const char *s, const char *dotenv,
		      char *problem, size_t pcap)
{
	struct buf o;

	buf_init(&o, cap ? cap - 1 : 0);
	if (interp(&o, s, strlen(s), dotenv, problem, pcap, 0)) {
		buf_release(&o);
		return -1;
	}
	snprintf(dst, cap, "%s", o.data);
	buf_release(&o);
	return 0;
}

int margo_compose_file_images(struct margo_images *out, const char *yaml,
			      size_t len, const char *file, const char *dotenv,
			      struct err *err)
{
	struct oci_yaml y;
	yaml_node_t *root, *svcs;
	int rc = 0;

	if ((rc = oci_yaml_load(&y, file, yaml, len, &yaml_lim, err)))
		return rc;
	root = yaml_document_get_root_node(&y.doc);
	svcs = oci_yaml_map_get(&y.doc, root, "services", NULL, NULL);
	if (!svcs || svcs->type != YAML_MAPPING_NODE) {
		oci_yaml_release(&y);
		return err_set(err, ERR_INVALID,
			       "%s: no services mapping: not a Compose file",
			       file);
	}
	for (yaml_node_pair_t *p = svcs->data.mapping.pairs.start;
	     p < svcs->data.mapping.pairs.top && !rc; p++) {
		const char *name =
		    oci_yaml_scalar(yaml_document_get_node(&y.doc, p->key));
		yaml_node_t *svc = yaml_document_get_node(&y.doc, p->value);
		const char *img = oci_yaml_scalar(
		    oci_yaml_map_get(&y.doc, svc, "image", NULL, NULL));
		char where[256], ref[OCI_REF_STR_MAX], problem[200];

		if (!name)
			continue;
		snprintf(where, sizeof(where), "%s: services.%s.image", file,
			 name);
		if (!img || !*img)
			rc = add(
			    out, NULL, where,
			    oci_yaml_map_get(&y.doc, svc, "build", NULL, NULL)
				? "the service builds its image (build:) "
				  "instead of naming one; nothing to mirror"
				: "the service names no image");
		else if (margo_interpolate(ref, sizeof(ref), img, dotenv,
					   problem, sizeof(problem)))
			rc = add(out, NULL, where, problem);
		else
			rc = add(out, ref, where, NULL);
	}
	oci_yaml_release(&y);
	if (rc == ERR_TOO_LARGE)
		return err_set(err, rc, "%s: more than %d image references",
			       file, MARGO_IMAGES_MAX);
	return rc ? err_set(err, ERR_FAIL, "out of memory") : 0;
}

static size_t compose_want(const char *path)
{
	return !strcmp(path, "compose.yaml") || !strcmp(path, ".env")
		   ? MARGO_YAML_MAX
		   : 0;
}

int margo_compose_images(struct margo_images *out, const void *tgz, size_t len,
			 struct err *err)
{
	struct ascan a;
	const struct afile *f, *env;
	char file[NAME_MAX_LEN + 16];
	int rc;

	struct budget b = {0, 0};

	memset(&a, 0, sizeof(a));
	a.budget = &b;
	a.want = compose_want;
	rc = archive_scan(&a, tgz, len, err);
	if (rc)
		return rc;
	f = ascan_get(&a, "compose.yaml");
	env = ascan_get(&a, ".env");
	if (!f) {
		if (a.seen_other[0])
			rc = err_set(err, ERR_INVALID,
				     "%s/%s instead of %s/compose.yaml (Margo "
				     "requires compose.yaml); refused",
				     a.top, a.seen_other, a.top);
		else
			rc = err_set(err, ERR_INVALID,
				     "no %s/compose.yaml in the archive (a "
				     "symbolic link does not count); refused",
				     a.top);
	} else {
		struct margo_images tmp = {0};

		snprintf(file, sizeof(file), "%s/compose.yaml", a.top);
		rc = settle(
		    out, &tmp,
		    margo_compose_file_images(&tmp, f->data, f->len, file,
					      env ? env->data : NULL, err),
		    err);
	}
	ascan_release(&a);
	return rc;
}
