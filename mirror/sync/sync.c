#include "mirror/sync/sync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mirror/fresh.h"
#include "mirror/margo/app_pull.h"
#include "mirror/pull.h"
#include "mirror/store/walk.h"
#include "oci/manifest.h"
#include "registry/pool.h"
#include "oci/vec.h"

const char *sync_action_name(enum sync_action a)
{
	switch (a) {
	case SYNC_UNCHANGED: return "unchanged";
	case SYNC_ADDED: return "added";
	case SYNC_UPDATED: return "updated";
	case SYNC_PRUNED: return "pruned";
	default: return "failed";
	}
}

static struct sync_tag_result *report_add(struct sync_report *r)
{
	if (OCI_VEC_RESERVE(r->tags, r->n, r->cap, 1, 0))
		return NULL;
	memset(&r->tags[r->n], 0, sizeof(r->tags[0]));
	return &r->tags[r->n++];
}

void sync_report_release(struct sync_report *r)
{
	free(r->tags);
	memset(r, 0, sizeof(*r));
}

/* What the run will pull, and the report line each item fills. */
struct plan {
	struct pull_item *items;
	size_t *line; /* index into the report, per item */
	size_t n, cap;
};

static int plan_add(struct plan *p, const struct pull_item *it, size_t line)
{
	size_t cap_line = p->cap;

	/* two arrays, one count: line grows first, so both always hold at
	 * least p->cap items even when the second growth fails */
	if (OCI_VEC_RESERVE(p->line, p->n, cap_line, 1, 0) ||
	    OCI_VEC_RESERVE(p->items, p->n, p->cap, 1, 0))
		return ERR_FAIL;
	p->items[p->n] = *it;
	p->line[p->n] = line;
	p->n++;
	return 0;
}

struct prune_ctx {
	char **keep;
	size_t n_keep;
	char **drop;
	size_t n_drop, cap;
};

static int collect_prune(void *ctx, const char *repo, const char *tag,
			 const struct store_ref *ref)
{
	struct prune_ctx *p = ctx;

	(void)repo;
	(void)ref;
	if (!tag)
		return 0;
	for (size_t i = 0; i < p->n_keep; i++)
		if (!strcmp(p->keep[i], tag))
			return 0;
	if (OCI_VEC_RESERVE(p->drop, p->n_drop, p->cap, 1, 0))
		return 1;
	p->drop[p->n_drop++] = strdup(tag);
	return 0;
}

static void fail_line(struct sync_report *rep, struct sync_tag_result *t,
		      const struct err *e)
{
	t->action = SYNC_FAILED;
	t->err = *e;
	rep->failed++;
}

/* One rule: select tags, HEAD each, queue what changed, note prunes. */
static void plan_rule(struct store *s, struct reg_pool *pool,
		      const struct sync_config *cfg,
		      const struct sync_rule *rule, struct plan *plan,
		      struct sync_report *rep, struct prune_ctx *prune_out,
		      char *dest_out)
{
	struct reg_client *c;
	struct err e;
	char **tags = NULL, **sel = NULL;
	size_t n_tags = 0, n_sel = 0;
	struct pull_item base;
	char srcrepo[OCI_REPO_MAX];
	int listed = 0;

	err_clear(&e);
	memset(&base, 0, sizeof(base));
	base.ref = rule->source;
	base.ref.tag[0] = '\0';
	base.ref.has_digest = 0;
	base.platforms = rule->platforms ? rule->platforms : cfg->platforms;
	base.n_platforms =
	    rule->platforms ? rule->n_platforms : cfg->n_platforms;
	base.referrers =
	    rule->referrers >= 0 ? rule->referrers : cfg->referrers;
	oci_ref_repo(&rule->source, srcrepo, sizeof(srcrepo));
	snprintf(dest_out, OCI_REPO_MAX, "%s",
		 rule->destination ? rule->destination : srcrepo);
	if (reg_pool_get(pool, &c, rule->source.host, &e)) {
		struct sync_tag_result *t = report_add(rep);
		if (t) {
			snprintf(t->source, sizeof(t->source), "%s", srcrepo);
			snprintf(t->repo, sizeof(t->repo), "%s", dest_out);
			fail_line(rep, t, &e);
		}
		return;
	}
	if (rule->source.has_digest) {
		struct pull_item it = base;
		struct sync_tag_result *t = report_add(rep);

		if (!t)
			return;
		it.ref.has_digest = 1;
		it.ref.digest = rule->source.digest;
		snprintf(it.ref.tag, sizeof(it.ref.tag), "%s",
			 rule->source.tag);
		snprintf(t->source, sizeof(t->source), "%s@%s", srcrepo,
			 rule->source.digest.str);
		snprintf(t->repo, sizeof(t->repo), "%s", dest_out);
		snprintf(t->tag, sizeof(t->tag), "%s", rule->source.tag);
		t->digest = rule->source.digest;
		if (fresh_manifest_complete(s, dest_out, &t->digest,
					    it.platforms, it.n_platforms)) {
			t->action = SYNC_UNCHANGED;
			return;
		}
		t->action = SYNC_ADDED;
		it.dest = rule->destination;
		if (rule->type == SYNC_MARGO_APP &&
		    margo_package_check(&t->digest, c, &it.ref, &e)) {
			fail_line(rep, t, &e);
			return;
		}
		plan_add(plan, &it, (size_t)(t - rep->tags));
		return;
	}
	if (rule->source.tag[0] && !rule->has_tags) {
		tags = calloc(2, sizeof(*tags));
		if (tags)
			tags[0] = strdup(rule->source.tag);
		n_tags = tags && tags[0] ? 1 : 0;
	} else if (reg_client_list_tags(c, &tags, &n_tags, rule->source.path,
					&e)) {
		struct sync_tag_result *t = report_add(rep);
		if (t) {
			snprintf(t->source, sizeof(t->source), "%s", srcrepo);
			snprintf(t->repo, sizeof(t->repo), "%s", dest_out);
			err_wrap(&e, "list tags of %s: ", srcrepo);
			fail_line(rep, t, &e);
		}
		return;
	} else {
		listed = 1;
	}
	if (tagfilter_select(&sel, &n_sel, rule->has_tags ? &rule->tags : NULL,
			     tags, n_tags, &e)) {
		struct sync_tag_result *t = report_add(rep);
		if (t) {
			snprintf(t->source, sizeof(t->source), "%s", srcrepo);
			fail_line(rep, t, &e);
		}
		goto out;
	}
	for (size_t i = 0; i < n_sel; i++) {
		struct sync_tag_result *t = report_add(rep);
		struct store_ref old;
		struct pull_item it = base;

		if (!t)
			break;
		snprintf(t->source, sizeof(t->source), "%s:%s", srcrepo,
			 sel[i]);
		snprintf(t->repo, sizeof(t->repo), "%s", dest_out);
		snprintf(t->tag, sizeof(t->tag), "%s", sel[i]);
		err_clear(&e);
		if (fresh_head_tag(&t->digest, c, rule->source.path, sel[i],
				   &e)) {
			fail_line(rep, t, &e);
			continue;
		}
		if (fresh_tag_current(s, dest_out, sel[i], &t->digest,
				      it.platforms, it.n_platforms)) {
			t->action = SYNC_UNCHANGED;
			continue;
		}
		t->action = store_tag_get(&old, s, dest_out, sel[i], NULL)
				? SYNC_ADDED
				: SYNC_UPDATED;
		snprintf(it.ref.tag, sizeof(it.ref.tag), "%s", sel[i]);
		it.ref.has_digest = 1;
		it.ref.digest = t->digest;
		it.dest = rule->destination;
		/* a Margo package is read before anything of it is stored */
		if (rule->type == SYNC_MARGO_APP &&
		    margo_package_check(&t->digest, c, &it.ref, &e)) {
			fail_line(rep, t, &e);
			continue;
		}
		plan_add(plan, &it, (size_t)(t - rep->tags));
	}
	if (rule->prune && listed) {
		prune_out->keep = sel;
		prune_out->n_keep = n_sel;
		/* an unreadable listing prunes less, and says so */
		if (walk_tags(s, dest_out, collect_prune, prune_out, &e)) {
			struct sync_tag_result *t = report_add(rep);
			if (t) {
				snprintf(t->source, sizeof(t->source), "%s",
					 srcrepo);
				snprintf(t->repo, sizeof(t->repo), "%s",
					 dest_out);
				err_wrap(&e, "prune %s: ", dest_out);
				fail_line(rep, t, &e);
			}
		}
		prune_out->keep = NULL;
	}
out:
	tagfilter_strv_free(sel);
	reg_strv_free(tags);
}

/* Report line k is a package version of a margo-app rule: mirror what it
 * references, one line per component and image (each once). */
static void sync_app(struct store *s, struct reg_pool *pool,
		     const struct sync_config *cfg,
		     const struct sync_rule *rule, size_t k,
		     const struct sync_options *o, struct sync_report *rep)
{
	struct margo_pull_options mo;
	struct margo_pull_report mr;
	struct oci_digest d = rep->tags[k].digest;
	char label[OCI_REF_STR_MAX];

	if (rep->tags[k].action == SYNC_FAILED ||
	    rep->tags[k].action == SYNC_PRUNED)
		return;
	if (rep->tags[k].tag[0])
		snprintf(label, sizeof(label), "%s:%s", rep->tags[k].repo,
			 rep->tags[k].tag);
	else
		snprintf(label, sizeof(label), "%s@%s", rep->tags[k].repo,
			 d.str);
	memset(&mo, 0, sizeof(mo));
	mo.arch = rule->arch;
	mo.n_arch = rule->n_arch;
	mo.referrers = rule->referrers >= 0 ? rule->referrers : cfg->referrers;
	mo.concurrency = cfg->concurrency > 0 ? cfg->concurrency : 8;
	mo.check_first = 1;
	mo.progress = o->progress;
	mo.ctx = o->ctx;
	memset(&mr, 0, sizeof(mr));
	margo_app_expand(&mr, s, pool, &d, label, MARGO_STORED, 0, &mo, NULL);
	if (mr.n && mr.v[0].state == MARGO_FAILED) {
		struct err e = mr.v[0].err;

		err_wrap(&e, "%s: ", label);
		fail_line(rep, &rep->tags[k], &e);
	}
	for (size_t i = 1; i < mr.n; i++) {
		const struct margo_node *n = &mr.v[i];
		struct sync_tag_result *t;

		/* shown under another profile too: one line */
		if (n->kind == MARGO_NODE_PROFILE ||
		    !margo_pull_report_first(&mr, i))
			continue;
		t = report_add(rep);
		if (!t)
			break;
		snprintf(t->source, sizeof(t->source), "%s", n->name);
		if (store_name_split(t->repo, t->tag, n->name, NULL)) {
			/* an image reference that could not be resolved */
			t->repo[0] = t->tag[0] = '\0';
			snprintf(t->source, sizeof(t->source), "%s", n->detail);
		}
		t->digest = n->digest;
		t->bytes = n->bytes;
		rep->bytes += n->bytes;
		t->action = n->state == MARGO_UNCHANGED ? SYNC_UNCHANGED
			    : n->updated		? SYNC_UPDATED
							: SYNC_ADDED;
		if (n->state == MARGO_FAILED) {
			struct err e;

			err_set(&e, n->err.code ? n->err.code : ERR_FAIL,
				"%s%s%s%s", n->err.msg,
				n->detail[0] ? " (" : "", n->detail,
				n->detail[0] ? ")" : "");
			fail_line(rep, t, &e);
		}
	}
	margo_pull_report_release(&mr);
}

int sync_run(struct store *s, const struct sync_config *cfg,
	     const struct reg_options *ro, const struct sync_options *o,
	     struct sync_report *rep)
{
	struct reg_host_options *hopts = NULL;
	struct reg_pool_host *hosts = NULL;
	struct reg_pool pool;
	struct plan plan = {0};
	struct pull_result *res = NULL;
	struct pull_options po;
	int rc = 0;

	memset(rep, 0, sizeof(*rep));
	hopts = calloc(cfg->n_registries + 1, sizeof(*hopts));
	hosts = calloc(cfg->n_registries + 1, sizeof(*hosts));
	if (!hopts || !hosts) {
		free(hopts);
		free(hosts);
		return ERR_FAIL;
	}
	for (size_t i = 0; i < cfg->n_registries; i++) {
		const struct sync_registry *g = &cfg->registries[i];

		hopts[i].tls = g->tls == SYNC_TLS_VERIFY     ? REG_TLS_VERIFY
			       : g->tls == SYNC_TLS_DISABLED ? REG_TLS_PLAIN
			       : g->tls == SYNC_TLS_INSECURE ? REG_TLS_INSECURE
							     : REG_TLS_DEFAULT;
		hopts[i].max_connections = g->max_connections;
		hopts[i].rate = g->rate;
		hopts[i].ca_file = g->ca;
		hopts[i].cert = g->cert;
		hopts[i].key = g->key;
		hosts[i].host = g->host;
		hosts[i].opt = &hopts[i];
	}
	reg_pool_init(&pool, ro);
	reg_pool_set_hosts(&pool, hosts, cfg->n_registries);

	struct {
		char dest[OCI_REPO_MAX];
		struct prune_ctx p;
		size_t first, end; /* the rule's report lines */
	} *prunes = calloc(cfg->n_rules + 1, sizeof(*prunes));
	if (!prunes) {
		rc = ERR_FAIL;
		goto out;
	}
	for (size_t i = 0; i < cfg->n_rules; i++) {
		const struct sync_rule *rule = &cfg->rules[i];

		prunes[i].first = rep->n;
		plan_rule(s, &pool, cfg, rule, &plan, rep, &prunes[i].p,
			  prunes[i].dest);
		prunes[i].end = rep->n;
	}
	res = calloc(plan.n + 1, sizeof(*res));
	if (!res) {
		rc = ERR_FAIL;
		goto out;
	}
	memset(&po, 0, sizeof(po));
	po.plan_only = o->dry_run;
	po.concurrency = cfg->concurrency > 0 ? cfg->concurrency : 8;
	po.progress = o->progress;
	po.ctx = o->ctx;
	if (plan.n)
		pull_run(res, s, &pool, plan.items, plan.n, &po);
	for (size_t i = 0; i < plan.n; i++) {
		struct sync_tag_result *t = &rep->tags[plan.line[i]];

		t->bytes = res[i].bytes_fetched;
		t->blobs = res[i].blobs_fetched;
		rep->bytes += res[i].bytes_fetched;
		if (res[i].result)
			fail_line(rep, t, &res[i].err);
	}
	/* Margo applications: what each package version references */
	for (size_t i = 0; i < cfg->n_rules && !o->dry_run; i++)
		if (cfg->rules[i].type == SYNC_MARGO_APP)
			for (size_t k = prunes[i].first; k < prunes[i].end; k++)
				sync_app(s, &pool, cfg, &cfg->rules[i], k, o,
					 rep);
	for (size_t i = 0; i < cfg->n_rules; i++) {
		struct prune_ctx *p = &prunes[i].p;

		for (size_t k = 0; k < p->n_drop; k++) {
			struct sync_tag_result *t = report_add(rep);
			struct store_ref old;
			struct err e;

			if (!t)
				break;
			snprintf(t->repo, sizeof(t->repo), "%s",
				 prunes[i].dest);
			snprintf(t->tag, sizeof(t->tag), "%s", p->drop[k]);
			t->action = SYNC_PRUNED;
			if (!store_tag_get(&old, s, prunes[i].dest, p->drop[k],
					   NULL))
				t->digest = old.digest;
			if (!o->dry_run &&
			    store_tag_delete(s, prunes[i].dest, p->drop[k], &e))
				fail_line(rep, t, &e);
		}
	}
out:
	if (prunes) {
		for (size_t i = 0; i < cfg->n_rules; i++) {
			for (size_t k = 0; k < prunes[i].p.n_drop; k++)
				free(prunes[i].p.drop[k]);
			free(prunes[i].p.drop);
		}
		free(prunes);
	}
	free(res);
	free(plan.items);
	free(plan.line);
	reg_pool_release(&pool);
	free(hopts);
	free(hosts);
	if (rc)
		return rc;
	return rep->failed ? ERR_FAIL : 0;
}
