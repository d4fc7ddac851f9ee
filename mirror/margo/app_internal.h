/* Private to mirror/margo/app_pull.c and app_plan.c: the state of one
 * application pull (what is wanted, the components and images found, the
 * report being built). Nothing outside mirror/margo includes this. */
#ifndef MIRROR_MARGO_APP_INTERNAL_H
#define MIRROR_MARGO_APP_INTERNAL_H

#include "mirror/margo/app_pull.h"
#include "mirror/margo/description.h"
#include "mirror/margo/images.h"
#include "oci/platform.h"

/* Architectures (normalised, as in linux/ARCH), or all of them. */
struct archset {
	int all;
	size_t n;
	char v[MARGO_ARCH_MAX][48];
};

/* What the store held at a tag before the pull: complete at digest d. */
struct before {
	int complete;
	struct oci_digest d;
};

/* One component, however many profiles name it. */
struct comp {
	char key[OCI_REF_STR_MAX]; /* repository:revision as written */
	struct oci_ref r;
	struct oci_ref fetch; /* r, pinned to what HEAD said (check_first) */
	char repo[OCI_REPO_MAX];
	struct archset arch;
	const char *profile_type;
	enum margo_node_state state;
	struct err err; /* when failed */
	int has_digest;
	struct oci_digest digest;
	uint64_t bytes;
	int updated;
	struct before was;
	char kind[64];
	struct margo_images imgs;
};

/* One image, however many components name it. */
struct img {
	char ref[OCI_REF_STR_MAX];
	struct oci_ref r;
	char repo[OCI_REPO_MAX];
	struct archset arch;
	struct oci_platform plats[MARGO_ARCH_MAX];
	size_t n_plats;
	enum margo_node_state state;
	struct err err; /* when failed */
	int has_digest;
	struct oci_digest digest;
	uint64_t bytes;
	int updated, had_old;
	struct oci_digest old;
	struct before was;
};

struct ctx {
	struct store *s;
	struct reg_pool *pool;
	const struct margo_pull_options *o;
	struct archset want;
	struct comp *comps;
	size_t n_comps, comps_cap;
	struct img *imgs;
	size_t n_imgs, imgs_cap;
	struct margo_pull_report *rep;
};

/* 1 when a profile type is want ("helm" also matches the older
 * "helm.v3"). */
int margo_plan_type_is(const char *type, const char *want);

/* c->want from the options' architectures. */
void margo_plan_want(struct ctx *c);

/* The architectures profile p is mirrored for, into *out; -1 when it
 * names architectures but none of the wanted ones. */
int margo_plan_profile_arch(struct archset *out, const struct ctx *c,
			    const struct margo_profile *p);

/* Note component k of profile p for arch (once per repository:revision;
 * a component that names no usable reference is noted failed). */
int margo_plan_comp_add(struct ctx *c, const struct margo_profile *p,
			const struct margo_component *k,
			const struct archset *arch, struct err *err);

/* Note the images every inspected component names, each once, for the
 * union of their components' architectures. */
int margo_plan_images(struct ctx *c, struct err *err);

/* Append the profiles, their components and the images of each to
 * c->rep, from what the pull found. skip_reason[i]: why profile i was
 * not selected, or NULL. */
int margo_plan_tree(struct ctx *c, const struct margo_app *app,
		    const char *const *skip_reason, struct err *err);

#endif
