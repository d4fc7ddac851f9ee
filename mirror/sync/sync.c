#include "mirror/sync/sync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mirror/fresh.h"
#include "mirror/margo/app_pull.h"
#include "mirror/pull.h"
#include "mirror/store/walk.h"
#include "oci/manifest.h"
#include "oci/vec.h"
#include "registry/pool.h"

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

void sync_report_summarize(struct store_sync_run *out,
			   const struct sync_report *r, int rc,
			   const struct err *err)
{
	char line[STORE_SYNC_FAILURE_MAX];

	store_sync_run_init(out);
	for (size_t i = 0; i < r->n; i++) {
		const struct sync_tag_result *t = &r->tags[i];

		switch (t->action) {
		case SYNC_ADDED: out->added++; break;
		case SYNC_UPDATED: out->updated++; break;
		case SYNC_UNCHANGED: out->unchanged++; break;
		case SYNC_PRUNED: out->pruned++; break;
		default:
			out->failed++;
			snprintf(line, sizeof(line), "%s%s%s: %s",
				 t->repo[0] ? t->repo : t->source,
				 t->tag[0] ? ":" : "", t->tag, t->err.msg);
			store_sync_run_failure_add(out, line);
		}
	}
	if (rc && !r->failed) {
		/* the run itself failed: one failure, so alerts see it */
		out->failed = 1;
		store_sync_run_failure_add(out, err ? err->msg
						    : "the run stopped short");
	}
	if (!rc)
		out->result = STORE_SYNC_OK;
	else if (r->failed && r->failed < r->n)
		out->result = STORE_SYNC_PARTIAL;
	else
		out->result = STORE_SYNC_FAILED;
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

/* Queue it for report line `line`; name is the line's source. */
static int plan_add(struct plan *p, const struct pull_item *it, size_t line,
		    const char *name, struct err *err)
{
	size_t cap_line = p->cap;

	/* two arrays, one count: line grows first, so both always hold at
	 * least p->cap items even when the second growth fails */
	if (OCI_VEC_RESERVE(p->line, p->n, cap_line, 1, 0) ||
	    OCI_VEC_RESERVE(p->items, p->n, p->cap, 1, 0))
		return err_set(err, ERR_FAIL, "queue %s: out of memory", name);
	p->items[p->n] = *it;
	p->line[p->n] = line;
	p->n++;
	return 0;
}

/* The tags of one destination repository that its rule no longer selects. */
struct prune_ctx {
	char **keep;
	size_t n_keep;
	char **drop;
	size_t n_drop, cap;
	int oom;
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
		return p->oom = 1;
	p->drop[p->n_drop] = strdup(tag);
	if (!p->drop[p->n_drop])
		return p->oom = 1;
	p->n_drop++;
	return 0;
}

/* What planning a rule leaves for the later steps. */
struct rule_out {
	char dest[OCI_REPO_MAX]; /* store repository */
	struct prune_ctx p;	 /* its tags to prune */
	size_t first, end;	 /* the rule's report lines */
};

/* One run: what every step reads and fills. */
struct run {
	struct store *s;
	const struct sync_config *cfg;
	const struct sync_options *o;
	struct sync_report *rep;
	struct reg_host_options *hopts; /* per configured registry */
	struct reg_pool_host *hosts;
	struct reg_pool pool;
	int pool_ready;
	struct plan plan;
	struct rule_out *rules; /* per rule */
	int oom;		/* a report line could not be added */
};

/* A new report line for repo:tag (either may be NULL); NULL, with the run
 * marked out of memory, when the report cannot grow. Valid until the next
 * line is added. */
static struct sync_tag_result *line_add(struct run *r, const char *repo,
					const char *tag)
{
	struct sync_tag_result *t = report_add(r->rep);

	if (!t) {
		r->oom = 1;
		return NULL;
	}
	snprintf(t->repo, sizeof(t->repo), "%s", repo ? repo : "");
	snprintf(t->tag, sizeof(t->tag), "%s", tag ? tag : "");
	return t;
}

static void fail_line(struct sync_report *rep, struct sync_tag_result *t,
		      const struct err *e)
{
	t->action = SYNC_FAILED;
	t->err = *e;
	rep->failed++;
}

/* One rule being planned: where it reads, where it writes. */
struct rule_ctx {
	const struct sync_rule *rule;
	struct reg_client *c;
	struct pull_item base;	/* source, platforms, referrers; no tag */
	char src[OCI_REPO_MAX]; /* source repository, for the report */
	const char *dest;	/* store repository */
	struct rule_out *out;
};

/* The rule's own settings, or the configuration's where it has none. */
static void rule_begin(struct rule_ctx *rc, struct run *r, size_t i)
{
	const struct sync_config *cfg = r->cfg;
	const struct sync_rule *rule = &cfg->rules[i];

	memset(rc, 0, sizeof(*rc));
	rc->rule = rule;
	rc->out = &r->rules[i];
	rc->base.ref = rule->source;
	rc->base.ref.tag[0] = '\0';
	rc->base.ref.has_digest = 0;
	rc->base.platforms = rule->platforms ? rule->platforms : cfg->platforms;
	rc->base.n_platforms =
	    rule->platforms ? rule->n_platforms : cfg->n_platforms;
	rc->base.referrers =
	    rule->referrers >= 0 ? rule->referrers : cfg->referrers;
	oci_ref_repo(&rule->source, rc->src, sizeof(rc->src));
	snprintf(rc->out->dest, sizeof(rc->out->dest), "%s",
		 rule->destination ? rule->destination : rc->src);
	rc->dest = rc->out->dest;
}

/* The rule failed before any of its tags: one line naming its source. */
static void rule_failed(struct run *r, const struct rule_ctx *rc,
			const struct err *e)
{
	struct sync_tag_result *t = line_add(r, rc->dest, NULL);

	if (!t)
		return;
	snprintf(t->source, sizeof(t->source), "%s", rc->src);
	fail_line(r->rep, t, e);
}

/* Line t's item joins the run's one pull. A Margo package is read first,
 * before anything of it is stored. */
static void queue(struct run *r, const struct rule_ctx *rc,
		  struct pull_item *it, struct sync_tag_result *t)
{
	struct err e;

	err_clear(&e);
	it->dest = rc->rule->destination;
	if (rc->rule->type == SYNC_MARGO_APP &&
	    margo_package_check(&t->digest, rc->c, &it->ref, &e)) {
		fail_line(r->rep, t, &e);
		return;
	}
	if (plan_add(&r->plan, it, (size_t)(t - r->rep->tags), t->source, &e))
		fail_line(r->rep, t, &e);
}

/* A rule pinned to a digest: unchanged when the store holds it complete,
 * else added. */
static void plan_digest(struct run *r, const struct rule_ctx *rc)
{
	const struct oci_ref *src = &rc->rule->source;
	struct sync_tag_result *t = line_add(r, rc->dest, src->tag);
	struct pull_item it = rc->base;

	if (!t)
		return;
	snprintf(t->source, sizeof(t->source), "%s@%s", rc->src,
		 src->digest.str);
	t->digest = src->digest;
	it.ref.has_digest = 1;
	it.ref.digest = src->digest;
	snprintf(it.ref.tag, sizeof(it.ref.tag), "%s", src->tag);
	if (fresh_manifest_complete(r->s, rc->dest, &t->digest, it.platforms,
				    it.n_platforms)) {
		t->action = SYNC_UNCHANGED;
		return;
	}
	t->action = SYNC_ADDED;
	queue(r, rc, &it, t);
}

/* The tags a rule selects from: its one tag when it names one and has no
 * filter, else the source's whole list (then *listed is set: only a full
 * list may decide what to prune). */
static int rule_tags(char ***out, size_t *n_out, int *listed,
		     const struct rule_ctx *rc, struct err *err)
{
	const struct sync_rule *rule = rc->rule;
	char **v;

	*out = NULL;
	*n_out = 0;
	*listed = 0;
	if (rule->source.tag[0] && !rule->has_tags) {
		v = calloc(2, sizeof(*v));
		if (!v || !(v[0] = strdup(rule->source.tag))) {
			free(v);
			return err_set(err, ERR_FAIL,
				       "tags of %s: out of memory", rc->src);
		}
		*out = v;
		*n_out = 1;
		return 0;
	}
	if (reg_client_list_tags(rc->c, out, n_out, rule->source.path, err))
		return err_wrap(err, "list tags of %s: ", rc->src);
	*listed = 1;
	return 0;
}

/* One selected tag: one HEAD upstream; unchanged when the store's tag
 * already holds that digest complete, else added or updated. */
static void plan_tag(struct run *r, const struct rule_ctx *rc, const char *tag)
{
	struct sync_tag_result *t = line_add(r, rc->dest, tag);
	struct pull_item it = rc->base;
	struct store_ref old;
	struct err e;

	if (!t)
		return;
	snprintf(t->source, sizeof(t->source), "%s:%s", rc->src, tag);
	err_clear(&e);
	if (fresh_head_tag(&t->digest, rc->c, rc->rule->source.path, tag, &e)) {
		fail_line(r->rep, t, &e);
		return;
	}
	if (fresh_tag_current(r->s, rc->dest, tag, &t->digest, it.platforms,
			      it.n_platforms)) {
		t->action = SYNC_UNCHANGED;
		return;
	}
	t->action = store_tag_get(&old, r->s, rc->dest, tag, NULL)
			? SYNC_ADDED
			: SYNC_UPDATED;
	snprintf(it.ref.tag, sizeof(it.ref.tag), "%s", tag);
	it.ref.has_digest = 1;
	it.ref.digest = t->digest;
	queue(r, rc, &it, t);
}

/* The destination's tags outside sel, removed after the pull. */
static void note_prunes(struct run *r, const struct rule_ctx *rc, char **sel,
			size_t n_sel)
{
	struct prune_ctx *p = &rc->out->p;
	struct err e;

	err_clear(&e);
	p->keep = sel;
	p->n_keep = n_sel;
	/* an unreadable listing prunes less, and says so */
	if (walk_tags(r->s, rc->dest, collect_prune, p, &e)) {
		err_wrap(&e, "prune %s: ", rc->dest);
		rule_failed(r, rc, &e);
	} else if (p->oom) {
		err_set(&e, ERR_FAIL, "prune %s: out of memory", rc->dest);
		rule_failed(r, rc, &e);
	}
	p->keep = NULL;
}

/* One rule: list its tags, select, resolve each, and decide what is
 * added, updated, unchanged or (later) pruned. */
static void plan_rule(struct run *r, size_t i)
{
	struct rule_ctx rc;
	struct err e;
	char **tags = NULL, **sel = NULL;
	size_t n_tags = 0, n_sel = 0;
	int listed = 0;

	err_clear(&e);
	rule_begin(&rc, r, i);
	if (reg_pool_get(&r->pool, &rc.c, rc.rule->source.host, &e)) {
		rule_failed(r, &rc, &e);
		return;
	}
	if (rc.rule->source.has_digest) {
		plan_digest(r, &rc);
		return;
	}
	if (rule_tags(&tags, &n_tags, &listed, &rc, &e)) {
		rule_failed(r, &rc, &e);
		goto out;
	}
	if (tagfilter_select(&sel, &n_sel,
			     rc.rule->has_tags ? &rc.rule->tags : NULL, tags,
			     n_tags, &e)) {
		err_wrap(&e, "%s: ", rc.src);
		rule_failed(r, &rc, &e);
		goto out;
	}
	for (size_t k = 0; k < n_sel && !r->oom; k++)
		plan_tag(r, &rc, sel[k]);
	if (rc.rule->prune && listed)
		note_prunes(r, &rc, sel, n_sel);
out:
	oci_strv_free(sel);
	oci_strv_free(tags);
}

/* Margo package version of line k: mirror what it references. */
static void app_expand(struct run *r, const struct sync_rule *rule, size_t k,
		       struct margo_pull_report *mr)
{
	const struct sync_tag_result *t = &r->rep->tags[k];
	struct margo_pull_options mo;
	struct oci_digest d = t->digest;
	char label[OCI_REF_STR_MAX];

	if (t->tag[0])
		snprintf(label, sizeof(label), "%s:%s", t->repo, t->tag);
	else
		snprintf(label, sizeof(label), "%s@%s", t->repo, d.str);
	memset(&mo, 0, sizeof(mo));
	mo.arch = rule->arch;
	mo.n_arch = rule->n_arch;
	mo.referrers =
	    rule->referrers >= 0 ? rule->referrers : r->cfg->referrers;
	mo.concurrency = r->cfg->concurrency > 0 ? r->cfg->concurrency : 8;
	mo.check_first = 1;
	mo.progress = r->o->progress;
	mo.ctx = r->o->ctx;
	margo_app_expand(mr, r->s, &r->pool, &d, label, MARGO_STORED, 0, &mo,
			 NULL);
	/* the line names the package already */
	if (mr->n && mr->v[0].state == MARGO_FAILED)
		fail_line(r->rep, &r->rep->tags[k], &mr->v[0].err);
}

/* One component or image node as a report line. */
static void app_line(struct run *r, const struct margo_node *n)
{
	struct sync_tag_result *t = line_add(r, NULL, NULL);
	struct oci_ref ref;
	struct err e;

	if (!t)
		return;
	snprintf(t->source, sizeof(t->source), "%s", n->name);
	/* a reference as written: repo:tag, repo:tag@digest, repo@digest */
	if (!oci_ref_parse(&ref, n->name, NULL)) {
		oci_ref_repo(&ref, t->repo, sizeof(t->repo));
		snprintf(t->tag, sizeof(t->tag), "%s", ref.tag);
	} else {
		/* an image reference that could not be resolved */
		snprintf(t->source, sizeof(t->source), "%s", n->detail);
	}
	t->digest = n->digest;
	t->bytes = n->bytes;
	r->rep->bytes += n->bytes;
	t->action = n->state == MARGO_UNCHANGED ? SYNC_UNCHANGED
		    : n->updated		? SYNC_UPDATED
						: SYNC_ADDED;
	if (n->state != MARGO_FAILED)
		return;
	err_set(&e, n->err.code ? n->err.code : ERR_FAIL, "%s%s%s%s",
		n->err.msg, n->detail[0] ? " (" : "", n->detail,
		n->detail[0] ? ")" : "");
	fail_line(r->rep, t, &e);
}

/* Report line k is a package version of a margo-app rule: mirror what it
 * references, one line per component and image (each once). */
static void app_lines(struct run *r, const struct sync_rule *rule, size_t k)
{
	struct margo_pull_report mr;

	if (r->rep->tags[k].action == SYNC_FAILED ||
	    r->rep->tags[k].action == SYNC_PRUNED)
		return;
	memset(&mr, 0, sizeof(mr));
	app_expand(r, rule, k, &mr);
	for (size_t i = 1; i < mr.n && !r->oom; i++)
		/* shown under another profile too: one line */
		if (mr.v[i].kind != MARGO_NODE_PROFILE &&
		    margo_pull_report_first(&mr, i))
			app_line(r, &mr.v[i]);
	margo_pull_report_release(&mr);
}

static enum reg_tls tls_of(enum sync_tls t)
{
	switch (t) {
	case SYNC_TLS_VERIFY: return REG_TLS_VERIFY;
	case SYNC_TLS_DISABLED: return REG_TLS_PLAIN;
	case SYNC_TLS_INSECURE: return REG_TLS_INSECURE;
	default: return REG_TLS_DEFAULT;
	}
}

/* The connection pool, with each configured registry's TLS, limits and
 * client certificate. */
static int run_connect(struct run *r, const struct reg_options *ro,
		       struct err *err)
{
	const struct sync_config *cfg = r->cfg;

	r->hopts = calloc(cfg->n_registries + 1, sizeof(*r->hopts));
	r->hosts = calloc(cfg->n_registries + 1, sizeof(*r->hosts));
	if (!r->hopts || !r->hosts)
		return err_set(err, ERR_FAIL,
			       "sync: options of %zu registries: out of memory",
			       cfg->n_registries);
	for (size_t i = 0; i < cfg->n_registries; i++) {
		const struct sync_registry *g = &cfg->registries[i];

		r->hopts[i].tls = tls_of(g->tls);
		r->hopts[i].max_connections = g->max_connections;
		r->hopts[i].rate = g->rate;
		r->hopts[i].ca_file = g->ca;
		r->hopts[i].cert = g->cert;
		r->hopts[i].key = g->key;
		r->hosts[i].host = g->host;
		r->hosts[i].opt = &r->hopts[i];
	}
	reg_pool_init(&r->pool, ro);
	reg_pool_set_hosts(&r->pool, r->hosts, cfg->n_registries);
	r->pool_ready = 1;
	return 0;
}

/* Every rule's lines, and one queue of what changed. */
static int run_plan(struct run *r, struct err *err)
{
	size_t n = r->cfg->n_rules;

	r->rules = calloc(n + 1, sizeof(*r->rules));
	if (!r->rules)
		return err_set(err, ERR_FAIL,
			       "sync: plan of %zu rules: out of memory", n);
	for (size_t i = 0; i < n; i++) {
		r->rules[i].first = r->rep->n;
		plan_rule(r, i);
		r->rules[i].end = r->rep->n;
	}
	return 0;
}

/* One pull of the whole queue (each blob fetched once, each tag moved
 * when its image is complete); its results fill the queued lines. */
static int run_transfer(struct run *r, struct err *err)
{
	struct pull_result *res = calloc(r->plan.n + 1, sizeof(*res));
	struct pull_options po;

	if (!res)
		return err_set(err, ERR_FAIL,
			       "sync: results of %zu pulls: out of memory",
			       r->plan.n);
	memset(&po, 0, sizeof(po));
	po.plan_only = r->o->dry_run;
	po.concurrency = r->cfg->concurrency > 0 ? r->cfg->concurrency : 8;
	po.progress = r->o->progress;
	po.ctx = r->o->ctx;
	if (r->plan.n)
		pull_run(res, r->s, &r->pool, r->plan.items, r->plan.n, &po);
	for (size_t i = 0; i < r->plan.n; i++) {
		struct sync_tag_result *t = &r->rep->tags[r->plan.line[i]];

		t->bytes = res[i].bytes_fetched;
		t->blobs = res[i].blobs_fetched;
		r->rep->bytes += res[i].bytes_fetched;
		if (res[i].result)
			fail_line(r->rep, t, &res[i].err);
	}
	free(res);
	return 0;
}

/* Margo applications: what each package version references. */
static void run_apps(struct run *r)
{
	for (size_t i = 0; i < r->cfg->n_rules; i++)
		if (r->cfg->rules[i].type == SYNC_MARGO_APP)
			for (size_t k = r->rules[i].first; k < r->rules[i].end;
			     k++)
				app_lines(r, &r->cfg->rules[i], k);
}

static void prune_tag(struct run *r, const char *repo, const char *tag)
{
	struct sync_tag_result *t = line_add(r, repo, tag);
	struct store_ref old;
	struct err e;

	if (!t)
		return;
	t->action = SYNC_PRUNED;
	if (!store_tag_get(&old, r->s, repo, tag, NULL))
		t->digest = old.digest;
	if (!r->o->dry_run && store_tag_delete(r->s, repo, tag, &e))
		fail_line(r->rep, t, &e);
}

/* The tags the rules with prune no longer select (only reported in a dry
 * run). */
static void run_prune(struct run *r)
{
	for (size_t i = 0; i < r->cfg->n_rules; i++)
		for (size_t k = 0; k < r->rules[i].p.n_drop && !r->oom; k++)
			prune_tag(r, r->rules[i].dest, r->rules[i].p.drop[k]);
}

static void run_release(struct run *r)
{
	if (r->rules) {
		for (size_t i = 0; i < r->cfg->n_rules; i++) {
			for (size_t k = 0; k < r->rules[i].p.n_drop; k++)
				free(r->rules[i].p.drop[k]);
			free(r->rules[i].p.drop);
		}
		free(r->rules);
	}
	free(r->plan.items);
	free(r->plan.line);
	if (r->pool_ready)
		reg_pool_release(&r->pool);
	free(r->hopts);
	free(r->hosts);
}

int sync_run(struct sync_report *out, struct store *s,
	     const struct sync_config *cfg, const struct reg_options *ro,
	     const struct sync_options *o, struct err *err)
{
	struct run r;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&r, 0, sizeof(r));
	r.s = s;
	r.cfg = cfg;
	r.o = o;
	r.rep = out;
	rc = run_connect(&r, ro, err);
	if (!rc)
		rc = run_plan(&r, err);
	if (!rc)
		rc = run_transfer(&r, err);
	if (!rc && !o->dry_run)
		run_apps(&r);
	if (!rc)
		run_prune(&r);
	run_release(&r);
	if (rc)
		return rc;
	if (r.oom)
		return err_set(err, ERR_FAIL,
			       "sync: report of %zu lines: out of memory",
			       out->n);
	if (out->failed)
		return err_set(err, ERR_FAIL,
			       "sync: %zu failed (the report says which)",
			       out->failed);
	return 0;
}
