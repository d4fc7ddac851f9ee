/* The tree an application pull reports. See report.h. */
#include "mirror/margo/report.h"
#include "oci/vec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *margo_node_state_name(enum margo_node_state s)
{
	switch (s) {
	case MARGO_STORED: return "stored";
	case MARGO_UNCHANGED: return "unchanged";
	case MARGO_SKIPPED: return "skipped";
	case MARGO_FAILED: return "failed";
	}
	return "?";
}

const char *margo_node_kind_name(enum margo_node_kind k)
{
	switch (k) {
	case MARGO_NODE_PACKAGE: return "package";
	case MARGO_NODE_PROFILE: return "profile";
	case MARGO_NODE_COMPONENT: return "component";
	case MARGO_NODE_IMAGE: return "image";
	}
	return "?";
}

void margo_pull_report_release(struct margo_pull_report *r)
{
	free(r->v);
	memset(r, 0, sizeof(*r));
}

struct margo_node *margo_pull_report_add(struct margo_pull_report *r,
					 enum margo_node_kind kind, int depth,
					 enum margo_node_state state,
					 const char *name, struct err *err)
{
	struct margo_node *n;

	if (OCI_VEC_RESERVE(r->v, r->n, r->cap, 1, 0)) {
		err_set(err, ERR_FAIL, "report of %zu nodes: out of memory",
			r->n);
		return NULL;
	}
	n = &r->v[r->n++];
	memset(n, 0, sizeof(*n));
	n->kind = kind;
	n->depth = depth;
	n->state = state;
	snprintf(n->name, sizeof(n->name), "%s", name);
	if (state == MARGO_FAILED)
		r->failed++;
	return n;
}

int margo_pull_report_first(const struct margo_pull_report *r, size_t i)
{
	const struct margo_node *n = &r->v[i];
	int by_detail =
	    n->kind == MARGO_NODE_PROFILE || !strcmp(n->name, MARGO_UNRESOLVED);

	for (size_t k = 0; k < i; k++)
		if (r->v[k].kind == n->kind && !strcmp(r->v[k].name, n->name) &&
		    (!by_detail || !strcmp(r->v[k].detail, n->detail)))
			return 0;
	return 1;
}

void margo_pull_report_count(struct margo_pull_counts *out,
			     const struct margo_pull_report *r)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < r->n; i++) {
		const struct margo_node *n = &r->v[i];

		if (n->kind == MARGO_NODE_PROFILE && n->state != MARGO_SKIPPED)
			continue;
		if (!margo_pull_report_first(r, i))
			continue;
		switch (n->state) {
		case MARGO_STORED: out->stored++; break;
		case MARGO_UNCHANGED: out->unchanged++; break;
		case MARGO_SKIPPED: out->skipped++; break;
		case MARGO_FAILED: out->failed++; break;
		}
	}
}
