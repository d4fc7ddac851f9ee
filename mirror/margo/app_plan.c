/* What an application pull mirrors: the architectures and profiles
 * selected, each component and image once, and the tree reported. See
 * app_internal.h. */
#include "mirror/margo/app_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mirror/margo/catalog.h"
#include "oci/vec.h"

/* "arm64", "arm/v7": the architecture part of linux/ARCH, normalised. */
static int arch_norm(char *dst, size_t cap, const char *arch)
{
	return margo_arch_norm(dst, cap, arch);
}

int margo_arch_known(const char *arch)
{
#define MARGO_ARCH_NAME_(name, sep) name,
	static const char *const known[] = {MARGO_ARCH_TABLE(MARGO_ARCH_NAME_)};
#undef MARGO_ARCH_NAME_
	char a[48], k[48];

	if (arch_norm(a, sizeof(a), arch))
		return 0;
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (!arch_norm(k, sizeof(k), known[i]) && !strcmp(a, k))
			return 1;
	return 0;
}

int margo_arch_list_parse(char **out, size_t *n_out, char *list,
			  struct err *err)
{
	size_t n = 0;
	char *p = list;

	*n_out = 0;
	while (*p) {
		char *t = p, shown[100];
		size_t len = strcspn(p, ",");

		p += len;
		if (*p)
			*p++ = '\0';
		if (!len)
			continue;
		if (n == MARGO_ARCH_MAX)
			return err_set(err, ERR_INVALID,
				       "more than %d architectures",
				       MARGO_ARCH_MAX);
		if (!margo_arch_known(t)) {
			err_shown(shown, sizeof(shown), t, len);
			return err_set(err, ERR_INVALID,
				       "\"%s\" is not an architecture "
				       "(" MARGO_ARCH_ACCEPTED ")",
				       shown);
		}
		out[n++] = t;
	}
	if (!n)
		return err_set(err, ERR_INVALID, "no architecture given");
	*n_out = n;
	return 0;
}

static int archset_has(const struct archset *a, const char *arch)
{
	for (size_t i = 0; i < a->n; i++)
		if (!strcmp(a->v[i], arch))
			return 1;
	return 0;
}

static void archset_add(struct archset *a, const char *arch)
{
	if (!archset_has(a, arch) && a->n < MARGO_ARCH_MAX)
		snprintf(a->v[a->n++], sizeof(a->v[0]), "%s", arch);
}

static void archset_merge(struct archset *dst, const struct archset *src)
{
	if (src->all)
		dst->all = 1;
	for (size_t i = 0; i < src->n; i++)
		archset_add(dst, src->v[i]);
}

static void archset_format(char *dst, size_t cap, const struct archset *a)
{
	size_t o = 0;

	dst[0] = '\0';
	if (a->all) {
		snprintf(dst, cap, "all platforms");
		return;
	}
	for (size_t i = 0; i < a->n && o + 1 < cap; i++) {
		o += (size_t)snprintf(dst + o, cap - o, "%slinux/%s",
				      i ? "," : "", a->v[i]);
		if (o >= cap)
			o = cap - 1;
	}
}

int margo_plan_type_is(const char *type, const char *want)
{
	size_t n = strlen(want);

	/* older drafts: helm.v3 */
	return type && !strncmp(type, want, n) && (!type[n] || type[n] == '.');
}

void margo_plan_want(struct ctx *c)
{
	c->want.all = !c->o->n_arch;
	for (size_t i = 0; i < c->o->n_arch; i++) {
		char a[48];

		if (!arch_norm(a, sizeof(a), c->o->arch[i]))
			archset_add(&c->want, a);
	}
}

int margo_plan_profile_arch(struct archset *out, const struct ctx *c,
			    const struct margo_profile *p)
{
	memset(out, 0, sizeof(*out));
	if (!p->n_architectures) {
		*out = c->want;
		return 0;
	}
	for (size_t i = 0; i < p->n_architectures; i++) {
		char a[48];

		if (!p->architectures[i].v ||
		    arch_norm(a, sizeof(a), p->architectures[i].v))
			continue;
		if (c->want.all || archset_has(&c->want, a))
			archset_add(out, a);
	}
	return out->n ? 0 : -1;
}

static void comp_key(char *dst, size_t cap, const struct margo_component *k)
{
	snprintf(dst, cap, "%s:%s", k->repository.v ? k->repository.v : "?",
		 k->revision.v ? k->revision.v : "?");
}

static struct comp *comp_find(struct ctx *c, const char *key)
{
	for (size_t i = 0; i < c->n_comps; i++)
		if (!strcmp(c->comps[i].key, key))
			return &c->comps[i];
	return NULL;
}

int margo_plan_comp_add(struct ctx *c, const struct margo_profile *p,
			const struct margo_component *k,
			const struct archset *arch, struct err *err)
{
	char key[OCI_REF_STR_MAX], spec[OCI_REF_STR_MAX];
	struct comp *m;
	const char *repo;

	comp_key(key, sizeof(key), k);
	m = comp_find(c, key);
	if (m) {
		archset_merge(&m->arch, arch);
		return 0;
	}
	if (OCI_VEC_RESERVE(c->comps, c->n_comps, c->comps_cap, 1, 0))
		return err_set(err, ERR_FAIL, "component %s: out of memory",
			       key);
	m = &c->comps[c->n_comps++];
	memset(m, 0, sizeof(*m));
	snprintf(m->key, sizeof(m->key), "%s", key);
	m->arch = *arch;
	m->profile_type = p->type.v;
	m->state = MARGO_STORED;
	repo = k->repository.v;
	if (!repo || !k->revision.v) {
		m->state = MARGO_FAILED;
		err_set(&m->err, ERR_INVALID, "component %s names no %s",
			k->name.v ? k->name.v : "?",
			repo ? "revision" : "repository");
		return 0;
	}
	if (!strncmp(repo, "oci://", 6))
		repo += 6;
	snprintf(spec, sizeof(spec), "%s:%s", repo, k->revision.v);
	for (char *q = strrchr(spec, ':'); q && *q; q++)
		if (*q == '+')
			*q = '_';
	if (oci_ref_parse(&m->r, spec, &m->err)) {
		m->state = MARGO_FAILED;
		return 0;
	}
	oci_ref_repo(&m->r, m->repo, sizeof(m->repo));
	return 0;
}

static int img_add(struct ctx *c, const struct margo_image *im,
		   const struct archset *arch, struct err *err)
{
	struct img *g;

	for (size_t i = 0; i < c->n_imgs; i++)
		if (!strcmp(c->imgs[i].ref, im->ref)) {
			archset_merge(&c->imgs[i].arch, arch);
			return 0;
		}
	if (OCI_VEC_RESERVE(c->imgs, c->n_imgs, c->imgs_cap, 1, 0))
		return err_set(err, ERR_FAIL, "image %s: out of memory",
			       im->ref);
	g = &c->imgs[c->n_imgs++];
	memset(g, 0, sizeof(*g));
	snprintf(g->ref, sizeof(g->ref), "%s", im->ref);
	g->arch = *arch;
	g->state = MARGO_STORED;
	if (oci_ref_parse(&g->r, im->ref, &g->err)) /* already canonical */
		g->state = MARGO_FAILED;
	oci_ref_repo(&g->r, g->repo, sizeof(g->repo));
	return 0;
}

static struct img *img_find(struct ctx *c, const char *ref)
{
	for (size_t i = 0; i < c->n_imgs; i++)
		if (!strcmp(c->imgs[i].ref, ref))
			return &c->imgs[i];
	return NULL;
}

int margo_plan_images(struct ctx *c, struct err *err)
{
	for (size_t i = 0; i < c->n_comps; i++) {
		const struct comp *m = &c->comps[i];

		if (m->state == MARGO_FAILED && !m->has_digest)
			continue;
		for (size_t k = 0; k < m->imgs.n; k++)
			if (m->imgs.v[k].ref[0] &&
			    img_add(c, &m->imgs.v[k], &m->arch, err))
				return ERR_FAIL;
	}
	return 0;
}

/* A profile's node: "TYPE ID" with its architectures. */
static struct margo_node *tree_profile(struct ctx *c,
				       const struct margo_profile *p,
				       const char *skip_reason, struct err *err)
{
	struct margo_node *nd;
	char name[300];

	snprintf(name, sizeof(name), "%s %s", p->type.v ? p->type.v : "?",
		 p->id.v ? p->id.v : "?");
	nd = margo_pull_report_add(c->rep, MARGO_NODE_PROFILE, 1,
				   skip_reason ? MARGO_SKIPPED : MARGO_STORED,
				   name, err);
	if (!nd)
		return NULL;
	margo_profile_arch_format(nd->detail, sizeof(nd->detail), p);
	if (skip_reason)
		err_set(&nd->err, ERR_OK, "%s", skip_reason);
	return nd;
}

/* What a component or an image came to, on its report node. Its bytes
 * are counted once, on the node where it is first shown (*bytes is
 * zeroed). */
static void node_outcome(struct ctx *c, struct margo_node *nd, int has_digest,
			 const struct oci_digest *digest, int updated,
			 uint64_t *bytes, const struct err *e)
{
	nd->has_digest = has_digest;
	nd->digest = *digest;
	nd->updated = updated;
	nd->err = *e;
	nd->bytes = *bytes;
	c->rep->bytes += *bytes;
	*bytes = 0;
}

/* One image a component names: its pull's outcome, or why it has none. */
static int tree_image(struct ctx *c, const struct margo_image *im,
		      struct err *err)
{
	struct img *g = im->ref[0] ? img_find(c, im->ref) : NULL;
	struct margo_node *nd;
	char plat[200];

	nd = margo_pull_report_add(
	    c->rep, MARGO_NODE_IMAGE, 3, g ? g->state : MARGO_FAILED,
	    im->ref[0] ? im->ref : MARGO_UNRESOLVED, err);
	if (!nd)
		return ERR_FAIL;
	if (!g) {
		snprintf(nd->detail, sizeof(nd->detail), "%s", im->where);
		err_set(&nd->err, ERR_INVALID, "%s", im->problem);
		return 0;
	}
	archset_format(plat, sizeof(plat), &g->arch);
	snprintf(nd->detail, sizeof(nd->detail), "%s; %s", plat, im->where);
	node_outcome(c, nd, g->has_digest, &g->digest, g->updated, &g->bytes,
		     &g->err);
	return 0;
}

/* Component mc of a profile, and the images it names. */
static int tree_component(struct ctx *c, const struct margo_component *mc,
			  struct err *err)
{
	char key[OCI_REF_STR_MAX], ref[OCI_REF_STR_MAX];
	struct margo_node *nd;
	struct comp *m;

	comp_key(key, sizeof(key), mc);
	m = comp_find(c, key);
	if (!m)
		return 0;
	if (m->r.host[0])
		oci_ref_format(&m->r, ref, sizeof(ref));
	else
		snprintf(ref, sizeof(ref), "%s", key);
	nd = margo_pull_report_add(c->rep, MARGO_NODE_COMPONENT, 2, m->state,
				   ref, err);
	if (!nd)
		return ERR_FAIL;
	snprintf(nd->detail, sizeof(nd->detail), "%s%s%s",
		 mc->name.v ? mc->name.v : "?", m->kind[0] ? ", " : "",
		 m->kind);
	node_outcome(c, nd, m->has_digest, &m->digest, m->updated, &m->bytes,
		     &m->err);
	for (size_t q = 0; q < m->imgs.n; q++)
		if (tree_image(c, &m->imgs.v[q], err))
			return ERR_FAIL;
	return 0;
}

int margo_plan_tree(struct ctx *c, const struct margo_app *app,
		    const char *const *skip_reason, struct err *err)
{
	for (size_t i = 0; i < app->n_profiles; i++) {
		const struct margo_profile *p = &app->profiles[i];

		if (!tree_profile(c, p, skip_reason[i], err))
			return ERR_FAIL;
		if (skip_reason[i])
			continue;
		for (size_t k = 0; k < p->n_components; k++)
			if (tree_component(c, &p->components[k], err))
				return ERR_FAIL;
	}
	return 0;
}
