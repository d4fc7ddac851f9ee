/* The sync configuration file (YAML, read with oci/yaml.h). Tag selection
 * is mirror/sync/tagfilter.h.
 *
 *   defaults:   {platforms: [os/arch[/variant]...], referrers: bool,
 *                referrers_recheck: bool, concurrency: int,
 *                tag_ttl: int (seconds >= 0, default 300),
 *                upstream_timeout: int (seconds 1..600, default 3)}
 *   registries: {HOST: {tls: verify|disabled|insecure, ca: PATH,
 *                       cert: PATH, key: PATH, max_connections: int,
 *                       rate: "N/s",
 *                       mirrors: [http[s]://HOST[:PORT][/], ...] (1..16),
 *                       fallback: bool (only with mirrors)}}
 *   sync:       - {source: REF, type: image|margo-app, tags: [..] | {regex,
 *                  exclude, semver, latest}, destination: REPO, prune: bool,
 *                  platforms: [..], referrers: bool,
 *                  referrers_recheck: bool, arch: [..]}
 *
 * Every error (unknown key, wrong type, bad reference, bad regex or semver
 * range, duplicate key) is ERR_INVALID with a message starting
 * "FILE:LINE:COLUMN: " (1-based, from libyaml's marks), before anything
 * touches the network.
 *
 * Types are strict: booleans are unquoted true / false only; integers are
 * unquoted; a string is any other scalar, taken as written (`tags: [1.10]`
 * is the tag "1.10"); a list is never accepted for a single value nor a
 * single value for a list; empty lists are refused (leave the key out).
 * `sync:` is required and not empty (syncconf_load_registries: it may be
 * absent, and then registries: is required and not empty); a rule needs
 * `source:`; `tags:` and `prune: true` are refused when source names a tag or
 * digest; `arch:` only with type margo-app; `key:` only with `cert:`; ca / cert
 * not with tls: disabled; rate is N/s, N/m or N/h (N > 0, decimals allowed); a
 * mirror URL has no path, query, user or fragment, is kept as
 * "scheme://HOST[:PORT]" without the trailing '/', and is not listed twice.
 * Registry hosts are normalised like a reference's (index.docker.io is
 * docker.io). Files are capped at 1 MiB, one YAML document, 1000 levels
 * of nesting and 200,000 YAML nodes with aliases expanded. */
#ifndef MIRROR_SYNC_SYNCCONF_H
#define MIRROR_SYNC_SYNCCONF_H

#include <stddef.h>

#include "oci/err.h"
#include "oci/platform.h"
#include "oci/ref.h"
#include "oci/semver.h"
#include "mirror/sync/tagfilter.h"

enum sync_tls {
	SYNC_TLS_DEFAULT = 0,
	SYNC_TLS_VERIFY,
	SYNC_TLS_DISABLED,
	SYNC_TLS_INSECURE
};

struct sync_registry {
	char *host;
	enum sync_tls tls;
	char *ca, *cert, *key; /* NULL when unset */
	/* line and column (1-based) of ca, cert and key, for messages */
	size_t ca_at[2], cert_at[2], key_at[2];
	int max_connections; /* 0: default */
	double rate;	     /* requests per second, 0: unlimited */
	/* mirrors: ["https://HOST[:PORT]", ...] (1..16, http or https, no
	 * path, query or user), read from in order; fallback: the registry
	 * itself when every mirror failed (default false) */
	char **mirrors;
	size_t n_mirrors;
	int fallback;
};

enum sync_rule_type { SYNC_IMAGE = 0, SYNC_MARGO_APP };

struct sync_rule {
	int line; /* where the rule starts, for messages */
	enum sync_rule_type type;
	struct oci_ref source; /* tag or digest in source: just that one */
	int has_tags;	       /* a tags: key was given */
	struct tagfilter tags;
	char *destination; /* store repository, NULL: the source's name */
	int prune;
	struct oci_platform *platforms; /* NULL: the defaults */
	size_t n_platforms;
	int referrers; /* -1: the default */
	/* -1: the default; 1: an unchanged tag is pulled again for its
	 * referrers (only where referrers are on) */
	int referrers_recheck;
	char **arch; /* margo-app: architectures */
	size_t n_arch;
};

struct sync_config {
	char *path;
	struct oci_platform *platforms; /* NULL / 0: all platforms */
	size_t n_platforms;
	int referrers;	       /* default 0 */
	int referrers_recheck; /* default 0 */
	int concurrency;       /* default 8 */
	/* serve --upstream: seconds a tag checked upstream is answered from
	 * the store without a new check (defaults: tag_ttl, default 300) and
	 * the short timeout of that check, after which the stored tag is
	 * answered (defaults: upstream_timeout, seconds, default 3) */
	int tag_ttl;
	int upstream_timeout;
	struct sync_registry *registries;
	size_t n_registries;
	struct sync_rule *rules;
	size_t n_rules;
};

/* Read and parse path. A file that cannot be opened is ERR_NOT_FOUND
 * (absent) or ERR_FAIL; its content, ERR_INVALID as above. On any error
 * *out is left released (all zero), so syncconf_release is harmless. */
int syncconf_load(struct sync_config *out, const char *path, struct err *err);
/* The same, for a file that may have no sync: rules (serve --upstream,
 * pull --config, app pull --config: its registries and defaults). */
int syncconf_load_registries(struct sync_config *out, const char *path,
			     struct err *err);
/* Same, from a buffer (name is used in messages). */
int syncconf_parse(struct sync_config *out, const char *name, const char *text,
		   size_t len, struct err *err);
/* Free what c holds and zero it. */
void syncconf_release(struct sync_config *c);

/* The files a loaded configuration names (each registry's ca, cert, key,
 * relative to the working directory as the run reads them) exist and can
 * be read, so that a missing CA is a configuration error (exit 2) before
 * the run, not a failure in it. ERR_INVALID "FILE:LINE:COLUMN: ca: cannot
 * read \"PATH\": REASON" for the first that cannot. */
int syncconf_check_files(const struct sync_config *c, struct err *err);

/* The client settings of every registry block (TLS, limits, client
 * certificates, mirrors with each mirror's own block when the file has one
 * for the mirror's HOST:PORT), for reg_pool_set_hosts. Borrows c's
 * strings: c outlives it. */
struct reg_pool_host;
struct reg_host_options;
struct syncconf_hosts {
	struct reg_pool_host *hosts;
	size_t n;
	struct reg_host_options *opts; /* n, hosts[i].opt is opts + i */
	/* every registry's mirror_opts, one after the other (an entry points
	 * into opts, or is NULL for a mirror without its own block) */
	const struct reg_host_options **mirror_opts;
};
int syncconf_hosts_build(struct syncconf_hosts *out,
			 const struct sync_config *c, struct err *err);
void syncconf_hosts_release(struct syncconf_hosts *h);

/* The registry block for host, or NULL. */
const struct sync_registry *syncconf_registry(const struct sync_config *c,
					      const char *host);

#endif
