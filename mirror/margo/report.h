/* The result of mirroring a Margo application: a tree of nodes (package,
 * profiles, components, images) in the order a person reads it, each
 * stored / unchanged / skipped / failed, and the counts a summary gives.
 *
 * The same component or image appears under every profile that names it;
 * it is fetched and counted once. margo_pull_report_first says which
 * showing counts, so that the command line, JSON and sync all count the
 * same way. The report owns its nodes; release frees them. */
#ifndef MIRROR_MARGO_REPORT_H
#define MIRROR_MARGO_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "oci/digest.h"
#include "oci/err.h"
#include "oci/ref.h"

enum margo_node_kind {
	MARGO_NODE_PACKAGE,
	MARGO_NODE_PROFILE,
	MARGO_NODE_COMPONENT,
	MARGO_NODE_IMAGE,
};

enum margo_node_state {
	MARGO_STORED,
	MARGO_UNCHANGED,
	MARGO_SKIPPED,
	MARGO_FAILED,
};

/* The name of an image whose reference could not be resolved; such
 * images are told apart by detail (where they were found). */
#define MARGO_UNRESOLVED "(unresolved)"

struct margo_node {
	enum margo_node_kind kind;
	enum margo_node_state state;
	int depth;
	char name[OCI_REF_STR_MAX]; /* reference; a profile: "TYPE ID" */
	char detail[300]; /* profile architectures, component kind, image
			     platforms and where it was found */
	int has_digest;
	struct oci_digest digest;
	uint64_t bytes; /* fetched for this node */
	int updated;	/* stored, and its tag pointed elsewhere before */
	/* failed: the error (code and message); skipped: why, code ERR_OK;
	 * else empty */
	struct err err;
};

struct margo_pull_report {
	struct margo_node *v;
	size_t n, cap;
	size_t failed;
	uint64_t bytes;
};

/* What a summary says: each reference once, profiles only when skipped. */
struct margo_pull_counts {
	size_t stored, unchanged, skipped, failed;
};

/* Append a node (zeroed but for these fields) and count a failure. NULL
 * with err set when out of memory. Owned by r; valid until the next
 * append. */
struct margo_node *margo_pull_report_add(struct margo_pull_report *r,
					 enum margo_node_kind kind, int depth,
					 enum margo_node_state state,
					 const char *name, struct err *err);

/* 1 when node i is the first showing of its reference: no earlier node
 * of its kind has its name (profiles and unresolved images: and its
 * detail). */
int margo_pull_report_first(const struct margo_pull_report *r, size_t i);

/* The counts over r, by state. */
void margo_pull_report_count(struct margo_pull_counts *out,
			     const struct margo_pull_report *r);

void margo_pull_report_release(struct margo_pull_report *r);
const char *margo_node_state_name(enum margo_node_state s);
const char *margo_node_kind_name(enum margo_node_kind k);

#endif
