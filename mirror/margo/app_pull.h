/* Mirroring a Margo application: one package reference in, everything a
 * disconnected site needs out (MARGO.md, "What mirroring an application
 * means").
 *
 * 1. The package is stored (with its referrers) and its description read.
 * 2. Deployment profiles are picked: by type when asked, and by
 *    architecture (cpu.architectures of deviceConstraints or the older
 *    requiredResources) when asked; a profile naming no architecture runs
 *    anywhere, so it is kept.
 * 3. Every component of those profiles (repository without "oci://",
 *    revision as the tag with '+' read as '_') is stored with its
 *    referrers, each one once however many profiles name it. Its tag is
 *    written only after its chart or Compose archive passed the checks of
 *    mirror/margo/archive.h; a refused archive leaves nothing reachable in the
 *    store (its manifest and blob records are dropped; gc removes the
 *    bytes).
 * 4. The images the archives name are stored for linux/ARCH of the
 *    architectures their profiles matched (all platforms when a profile
 *    names none and none were asked for), with referrers, in one parallel
 *    pull.
 * Everything keeps its upstream repository name, so nothing in the
 * description has to be rewritten. With check_first (sync), a tag whose
 * upstream digest the store already holds complete costs one HEAD.
 *
 * The requests of steps 3 and 4 that do not wait for one another run
 * together on the pool's request engine (registry/engine.h): every
 * component's HEAD, manifest and archive at once (each archive read as it
 * arrives; those in flight hold at most MARGO_ARCHIVE_MAX bytes together),
 * then every image's HEAD at once; each step ends in one pull_run. So,
 * like pull_run, these calls run the engine themselves and must not be
 * made from inside one of its callbacks.
 *
 * The result is a tree of nodes: package, profiles, components, images,
 * each stored / unchanged / skipped / failed with the reason. */
#ifndef MIRROR_MARGO_APP_PULL_H
#define MIRROR_MARGO_APP_PULL_H

#include <stdint.h>

#include "mirror/margo/report.h"
#include "mirror/store/store.h"
#include "oci/digest.h"
#include "oci/err.h"
#include "oci/ref.h"
#include "registry/pool.h"
#include "registry/transfer.h"

#define MARGO_ARCH_MAX 16

struct margo_pull_options {
	char *const *arch; /* architectures wanted; NULL / 0: all */
	size_t n_arch;
	const char *profile_type; /* "helm", "compose", ...; NULL: all */
	int referrers;		  /* store referrers too (default on) */
	int concurrency;
	int check_first; /* HEAD tags; skip what the store holds current */
	void (*progress)(void *ctx, const struct reg_transfer_progress *p);
	void *ctx;
};

/* The architectures a selection (app pull --arch, a sync rule's arch:)
 * may name: MARGO.md's list, with the spellings oci/platform.h normalises
 * to the same platform (x86_64 = amd64, aarch64 = arm64, arm = armhf =
 * arm/v7). One table, X(SPELLING, SEPARATOR_AFTER_IT): margo_arch_known
 * checks against it and MARGO_ARCH_ACCEPTED, the message, is made of it. */
#define MARGO_ARCH_TABLE(X)                                                    \
	X("amd64", " or ")                                                     \
	X("x86_64", ", ")                                                      \
	X("arm64", " or ")                                                     \
	X("aarch64", ", ")                                                     \
	X("arm", ", ")                                                         \
	X("arm/v6", ", ")                                                      \
	X("arm/v7", " or ")                                                    \
	X("armhf", ", ")                                                       \
	X("riscv64", ", ")                                                     \
	X("other", "")
#define MARGO_ARCH_SHOWN_(name, sep) name sep
/* "amd64 or x86_64, arm64 or aarch64, arm, arm/v6, arm/v7 or armhf,
 * riscv64, other" */
#define MARGO_ARCH_ACCEPTED MARGO_ARCH_TABLE(MARGO_ARCH_SHOWN_)
/* 1 when arch, normalised (oci/platform.h: "ARM64", "arm64/v8", "armel"
 * too), is one of MARGO_ARCH_TABLE's, normalised, with its variant: "sparc",
 * "arm/v5", "amd64/v3" are not. Else 0. */
int margo_arch_known(const char *arch);

/* Split list (comma-separated, changed in place) into out (MARGO_ARCH_MAX
 * entries, pointing into list), each checked by margo_arch_known; empty
 * items are skipped. ERR_INVALID naming the first that is not an
 * architecture ("\"sparc\" is not an architecture (" MARGO_ARCH_ACCEPTED
 * ")"), when there are more than MARGO_ARCH_MAX, or none. */
int margo_arch_list_parse(char **out, size_t *n_out, char *list,
			  struct err *err);

/* Pull the package ref (tag or digest; neither: the highest version its
 * repository lists, by margo_version_cmp) and everything it references
 * into the report *rep (zeroed here; release it whatever the result). A
 * node is unchanged when the store held it complete, at the digest the
 * registry gives, before the pull and nothing was fetched for it. 0 when
 * nothing failed. ERR_FAIL when something did: the report says what (the
 * rest was done) and err sums it up; or, with rep->failed still 0, the
 * report could not be built (out of memory, err says so). The caller holds
 * the store's writer lock. */
int margo_app_pull(struct margo_pull_report *rep, struct store *s,
		   struct reg_pool *pool, const struct oci_ref *ref,
		   const struct margo_pull_options *o, struct err *err);

/* Steps 2 to 4 for a package already stored (sync pulls the package
 * itself), appended to *rep (zeroed, or filled by an earlier call). d is
 * the package manifest; label names the package in the tree; pkg_state
 * and pkg_bytes are what pulling the package did. Returns as
 * margo_app_pull. */
int margo_app_expand(struct margo_pull_report *rep, struct store *s,
		     struct reg_pool *pool, const struct oci_digest *d,
		     const char *label, enum margo_node_state pkg_state,
		     uint64_t pkg_bytes, const struct margo_pull_options *o,
		     struct err *err);

/* Read the package ref (tag or digest) from its registry, without storing
 * anything: a manifest with the Margo artifactType, a description layer,
 * and YAML in it. *out gets the manifest's digest. ERR_INVALID (err ends
 * "nothing stored") when it is not a package; the client's error when it
 * cannot be read. */
struct reg_client;
int margo_package_check(struct oci_digest *out, struct reg_client *cl,
			const struct oci_ref *ref, struct err *e);

#endif
