#include "mirror/sync/sync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mirror/fresh.h"
#include "mirror/margo/app_pull.h"
#include "mirror/pull.h"
#include "mirror/store/walk.h"
#include "oci/manifest.h"
#include "oci/vec.h"
#include "registry/engine.h"
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

/* The tags of one destination repository that its rule no longer selects:
 * all it held when the run began (before any pull of the run could add
 * one), then, once the rule's list arrives, those outside the selection. */
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
	int pruning;		 /* p.drop is decided: prune it */
	size_t first, end;	 /* the rule's report lines, once sorted */
};

/* Where a line goes in the report. Lines are made as answers arrive, in
 * any order; once all are in they are sorted by rule, then by place in
 * the rule's selection (KEY_LAST: after the rule's tags, in the order
 * made), so the report reads as the configuration does. */
struct line_key {
	size_t rule, pos;
};
#define KEY_LAST ((size_t)-1)

struct rule_ctx;

/* HEADs of the run submitted and not answered, at most, whatever the
 * number of rules: the engine holds a job for each, so 100 rules of 100
 * tags are not 10,000 jobs at once. The rules with tags left take turns. */
#define HEAD_WINDOW 256
/* Changed tags waiting in or pulled by the session, with the HEADs in
 * flight (each may become one), at most, before no more HEADs start: the
 * session admits 256 at a time, and each waiting one holds its item and
 * result. */
#define PULL_WINDOW 512

/* One run: what every step reads and fills. Planning and transfer are one
 * pass on the pool's engine: every rule's tag list at once, each tag's
 * HEAD as its list arrives, each changed tag into the pull session as its
 * HEAD answers. */
struct run {
	struct store *s;
	const struct sync_config *cfg;
	const struct sync_options *o;
	struct sync_report *rep;
	struct line_key *keys; /* per report line */
	size_t keys_cap;
	struct syncconf_hosts hosts; /* per configured registry */
	struct reg_pool pool;
	int pool_ready;
	struct reg_engine *engine; /* the pool's, once a client exists */
	struct pull_session *ps;
	struct rule_ctx *rc;	/* per rule, while the engine runs */
	struct rule_out *rules; /* per rule */
	size_t pending;		/* lists and HEADs not answered yet */
	size_t pulls;		/* pulls not done yet */
	size_t heads;		/* HEADs not answered yet */
	size_t turn;		/* the rule whose HEAD goes next */
	int pumping;		/* in run_pump (it does not nest) */
	/* progress: the pull session's last figures and the tag counts */
	struct reg_transfer_progress last;
	long long shown_ms;
	size_t tags_checked, tags_total;
	int oom; /* a report line could not be added */
};

/* A new report line for repo:tag (either may be NULL), placed at key
 * (rule, pos); NULL, with the run marked out of memory, when the report
 * cannot grow. The pointer is valid until the next line is added: keep
 * the index across anything that may add one. */
static struct sync_tag_result *line_add(struct run *r, size_t rule, size_t pos,
					const char *repo, const char *tag)
{
	struct sync_tag_result *t;

	if (OCI_VEC_RESERVE(r->keys, r->rep->n, r->keys_cap, 1, 0) ||
	    !(t = report_add(r->rep))) {
		r->oom = 1;
		return NULL;
	}
	r->keys[r->rep->n - 1].rule = rule;
	r->keys[r->rep->n - 1].pos = pos;
	snprintf(t->repo, sizeof(t->repo), "%s", repo ? repo : "");
	snprintf(t->tag, sizeof(t->tag), "%s", tag ? tag : "");
	return t;
}

static size_t line_of(const struct run *r, const struct sync_tag_result *t)
{
	return (size_t)(t - r->rep->tags);
}

static void fail_line(struct sync_report *rep, struct sync_tag_result *t,
		      const struct err *e)
{
	t->action = SYNC_FAILED;
	t->err = *e;
	rep->failed++;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The caller's progress line: the pull session's figures with the tags
 * checked so far. */
static void progress_show(struct run *r)
{
	struct reg_transfer_progress p = r->last;

	p.tags_checked = r->tags_checked;
	p.tags_total = r->tags_total;
	r->shown_ms = now_ms();
	r->o->progress(r->o->ctx, &p);
}

/* From the HEAD callbacks: at most every 250 ms. */
static void progress_tick(struct run *r)
{
	if (r->o->progress && now_ms() - r->shown_ms >= 250)
		progress_show(r);
}

/* The pull session paces its own calls. */
static void on_pull_progress(void *ctx, const struct reg_transfer_progress *p)
{
	struct run *r = ctx;

	r->last = *p;
	if (r->o->progress)
		progress_show(r);
}

/* One rule being planned: where it reads, where it writes. Lives in the
 * run while the engine runs (the callbacks' context). */
struct rule_ctx {
	struct run *r;
	size_t index; /* in cfg->rules */
	const struct sync_rule *rule;
	struct reg_client *c;
	struct pull_item base;	/* source, platforms, referrers; no tag */
	int recheck;		/* pull unchanged tags again for referrers */
	char src[OCI_REPO_MAX]; /* source repository, for the report */
	const char *dest;	/* store repository */
	struct rule_out *out;
	char **sel;	    /* selected tags not all HEADed yet, or NULL */
	size_t n_sel, next; /* of sel: how many, the next to HEAD */
};

/* The rule's own settings, or the configuration's where it has none. */
static void rule_begin(struct rule_ctx *rc, struct run *r, size_t i)
{
	const struct sync_config *cfg = r->cfg;
	const struct sync_rule *rule = &cfg->rules[i];

	memset(rc, 0, sizeof(*rc));
	rc->r = r;
	rc->index = i;
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
	rc->recheck = rule->type == SYNC_IMAGE && rc->base.referrers &&
		      (rule->referrers_recheck >= 0 ? rule->referrers_recheck
						    : cfg->referrers_recheck);
	oci_ref_repo(&rule->source, rc->src, sizeof(rc->src));
	snprintf(rc->out->dest, sizeof(rc->out->dest), "%s",
		 rule->destination ? rule->destination : rc->src);
	rc->dest = rc->out->dest;
}

/* The rule failed, before any of its tags or (prune) after them: one line
 * naming its source, after its tags. */
static void rule_failed(struct run *r, const struct rule_ctx *rc,
			const struct err *e)
{
	struct sync_tag_result *t =
	    line_add(r, rc->index, KEY_LAST, rc->dest, NULL);

	if (!t)
		return;
	snprintf(t->source, sizeof(t->source), "%s", rc->src);
	fail_line(r->rep, t, e);
}

/* A pull in the session, for report line `line`. */
struct pull_ctx {
	struct run *r;
	size_t line;
	struct pull_result res;
};

static void run_pump(struct run *r);

static void pull_done(void *ctx, struct pull_result *res)
{
	struct pull_ctx *pc = ctx;
	struct run *r = pc->r;
	struct sync_tag_result *t = &r->rep->tags[pc->line];

	t->bytes = res->bytes_fetched;
	t->blobs = res->blobs_fetched;
	snprintf(t->endpoint, sizeof(t->endpoint), "%s", res->endpoint);
	r->rep->bytes += res->bytes_fetched;
	if (res->result)
		fail_line(r->rep, t, &res->err);
	r->pulls--;
	free(pc);
	run_pump(r); /* room under PULL_WINDOW */
}

/* Line `line`'s item joins the run's one pull session. A Margo package is
 * read first, before anything of it is stored. */
static void queue(struct run *r, const struct rule_ctx *rc,
		  struct pull_item *it, size_t line)
{
	struct sync_tag_result *t = &r->rep->tags[line];
	struct pull_ctx *pc;
	struct err e;

	err_clear(&e);
	it->dest = rc->rule->destination;
	if (rc->rule->type == SYNC_MARGO_APP &&
	    margo_package_check(&t->digest, rc->c, &it->ref, &e)) {
		fail_line(r->rep, t, &e);
		return;
	}
	pc = calloc(1, sizeof(*pc));
	if (!pc) {
		err_set(&e, ERR_FAIL, "queue %s: out of memory", t->source);
		fail_line(r->rep, t, &e);
		return;
	}
	pc->r = r;
	pc->line = line;
	r->pulls++; /* counted first: done may come at once */
	if (pull_session_add(r->ps, it, &pc->res, pull_done, pc)) {
		r->pulls--;
		if (!pc->res.err.msg[0])
			err_set(&pc->res.err, ERR_FAIL,
				"queue %s: out of memory", t->source);
		fail_line(r->rep, &r->rep->tags[line], &pc->res.err);
		free(pc);
	}
}

/* A rule pinned to a digest: unchanged when the store holds it complete,
 * else added. No request until the pull. */
static void plan_digest(struct run *r, const struct rule_ctx *rc)
{
	const struct oci_ref *src = &rc->rule->source;
	struct sync_tag_result *t =
	    line_add(r, rc->index, 0, rc->dest, src->tag);
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
	queue(r, rc, &it, line_of(r, t));
}

/* A HEAD in flight, for report line `line`. */
struct head_ctx {
	struct rule_ctx *rc;
	size_t line;
};

/* The upstream digest d of line `line`'s tag: unchanged when the store's
 * tag already holds it complete (queued only to recheck its referrers),
 * else added or updated, and queued. */
static void decide(struct run *r, struct rule_ctx *rc, size_t line,
		   const struct oci_digest *d)
{
	struct sync_tag_result *t = &r->rep->tags[line];
	struct pull_item it = rc->base;
	struct store_ref old;

	t->digest = *d;
	snprintf(it.ref.tag, sizeof(it.ref.tag), "%s", t->tag);
	it.ref.has_digest = 1;
	it.ref.digest = *d;
	if (fresh_tag_current(r->s, rc->dest, t->tag, d, it.platforms,
			      it.n_platforms)) {
		t->action = SYNC_UNCHANGED;
		if (rc->recheck)
			queue(r, rc, &it, line);
		return;
	}
	t->action = store_tag_get(&old, r->s, rc->dest, t->tag, NULL)
			? SYNC_ADDED
			: SYNC_UPDATED;
	queue(r, rc, &it, line);
}

/* One selected tag's answer; then the next HEADs, now that there is
 * room. */
static void on_tag_head(void *ctx, int rc_, const struct oci_digest *d,
			const struct err *err)
{
	struct head_ctx *h = ctx;
	struct rule_ctx *rc = h->rc;
	struct run *r = rc->r;
	size_t line = h->line;
	struct sync_tag_result *t = &r->rep->tags[line];
	struct err e;

	free(h);
	r->pending--;
	r->heads--;
	r->tags_checked++;
	progress_tick(r);
	if (rc_) {
		if (!err)
			err_set(&e, rc_, "HEAD %s: failed", t->source);
		fail_line(r->rep, t, err ? err : &e);
	} else {
		decide(r, rc, line, d);
	}
	run_pump(r);
}

/* Selected tag number pos of the rule: its line, and its one HEAD. */
static void head_submit(struct run *r, struct rule_ctx *rc, size_t pos,
			const char *tag)
{
	struct sync_tag_result *t = line_add(r, rc->index, pos, rc->dest, tag);
	struct head_ctx *h;
	struct err e;

	if (!t)
		return;
	snprintf(t->source, sizeof(t->source), "%s:%s", rc->src, tag);
	h = malloc(sizeof(*h));
	if (!h) {
		err_set(&e, ERR_FAIL, "HEAD %s: out of memory", t->source);
		goto failed;
	}
	h->rc = rc;
	h->line = line_of(r, t);
	r->pending++; /* counted first: the answer may come at once */
	r->heads++;
	if (!fresh_head_tag_async(rc->c, rc->rule->source.path, tag,
				  on_tag_head, h, &e))
		return;
	r->pending--;
	r->heads--;
	free(h);
failed:
	r->tags_checked++;
	fail_line(r->rep, t, &e);
}

static void prune_clear(struct prune_ctx *p)
{
	for (size_t k = 0; k < p->n_drop; k++)
		free(p->drop[k]);
	free(p->drop);
	p->drop = NULL;
	p->n_drop = p->cap = 0;
}

/* Whether the rule reads the source's whole tag list (only then may it
 * prune). */
static int rule_lists(const struct sync_rule *rule)
{
	return !rule->source.has_digest &&
	       !(rule->source.tag[0] && !rule->has_tags);
}

/* Before anything of the run is submitted: the destination's tags, as
 * they are, for a rule that prunes. Another rule's pulls into the same
 * destination may commit tags before this rule's list arrives; those are
 * not this run's to prune. */
static void prune_snapshot(struct run *r, const struct rule_ctx *rc)
{
	struct prune_ctx *p = &rc->out->p;
	struct err e;

	if (!rc->rule->prune || !rule_lists(rc->rule))
		return;
	err_clear(&e);
	p->keep = NULL;
	p->n_keep = 0;
	/* an unreadable listing prunes nothing, and says so */
	if (walk_tags(r->s, rc->dest, collect_prune, p, &e)) {
		err_wrap(&e, "prune %s: ", rc->dest);
		rule_failed(r, rc, &e);
		prune_clear(p);
	} else if (p->oom) {
		err_set(&e, ERR_FAIL, "prune %s: out of memory", rc->dest);
		rule_failed(r, rc, &e);
		prune_clear(p);
	}
}

/* The snapshot's tags outside sel, removed after the pull. */
static void note_prunes(const struct rule_ctx *rc, char **sel, size_t n_sel)
{
	struct prune_ctx *p = &rc->out->p;
	size_t kept = 0;

	for (size_t k = 0; k < p->n_drop; k++) {
		size_t i = 0;

		while (i < n_sel && strcmp(sel[i], p->drop[k]))
			i++;
		if (i < n_sel)
			free(p->drop[k]);
		else
			p->drop[kept++] = p->drop[k];
	}
	p->n_drop = kept;
	rc->out->pruning = 1;
}

/* The tags a rule selects from (the source's whole list when listed, then
 * it may decide what to prune): select, and one HEAD per selected tag. */
static void plan_tags(struct run *r, struct rule_ctx *rc, char **tags,
		      size_t n_tags, int listed)
{
	const struct sync_rule *rule = rc->rule;
	char **sel = NULL;
	size_t n_sel = 0;
	struct err e;

	err_clear(&e);
	if (tagfilter_select(&sel, &n_sel, rule->has_tags ? &rule->tags : NULL,
			     tags, n_tags, &e)) {
		err_wrap(&e, "%s: ", rc->src);
		rule_failed(r, rc, &e);
		return;
	}
	if (rule->prune && listed)
		note_prunes(rc, sel, n_sel);
	rc->sel = sel;
	rc->n_sel = n_sel;
	rc->next = 0;
	r->tags_total += n_sel;
	run_pump(r);
}

static int head_room(const struct run *r)
{
	return r->heads < HEAD_WINDOW && r->heads + r->pulls < PULL_WINDOW &&
	       !r->oom;
}

/* The rule's next HEAD, if it has one; its selection is freed once every
 * tag is submitted. Whether it had one. */
static int rule_pump(struct run *r, struct rule_ctx *rc)
{
	int sent = 0;

	if (rc->sel && rc->next < rc->n_sel && !r->oom) {
		size_t k = rc->next++;

		head_submit(r, rc, k, rc->sel[k]);
		sent = 1;
	}
	if (rc->sel && (rc->next >= rc->n_sel || r->oom)) {
		oci_strv_free(rc->sel);
		rc->sel = NULL;
	}
	return sent;
}

/* HEADs while the windows allow, one rule after another in turn (the
 * next call goes on from where this one stopped). */
static void run_pump(struct run *r)
{
	size_t n = r->cfg->n_rules, idle = 0;

	if (r->pumping || !r->rc || !n)
		return;
	r->pumping = 1;
	while (idle < n && head_room(r)) {
		if (r->turn >= n)
			r->turn = 0;
		idle = rule_pump(r, &r->rc[r->turn]) ? 0 : idle + 1;
		r->turn++;
	}
	r->pumping = 0;
}

static void on_tag_list(void *ctx, int rc_, char **list, size_t n,
			const struct err *err)
{
	struct rule_ctx *rc = ctx;
	struct run *r = rc->r;
	struct err e;

	r->pending--;
	if (rc_) {
		if (err)
			e = *err;
		else
			err_set(&e, rc_, "failed");
		err_wrap(&e, "list tags of %s: ", rc->src);
		rule_failed(r, rc, &e);
	} else {
		plan_tags(r, rc, list, n, 1);
	}
	oci_strv_free(list);
}

/* One rule: its digest, its one tag, or its list submitted; the rest
 * follows from the answers. */
static void plan_rule(struct run *r, size_t i)
{
	struct rule_ctx *rc = &r->rc[i];
	struct err e;

	err_clear(&e);
	if (reg_pool_get(&r->pool, &rc->c, rc->rule->source.host, &e)) {
		rule_failed(r, rc, &e);
		return;
	}
	if (!r->engine)
		r->engine = reg_client_engine(rc->c);
	if (rc->rule->source.has_digest) {
		plan_digest(r, rc);
	} else if (rc->rule->source.tag[0] && !rc->rule->has_tags) {
		char tag[OCI_TAG_MAX + 1];
		char *one[2] = {tag, NULL};

		snprintf(tag, sizeof(tag), "%s", rc->rule->source.tag);
		plan_tags(r, rc, one, 1, 0);
	} else {
		r->pending++;
		if (reg_client_list_tags_async(rc->c, rc->rule->source.path,
					       on_tag_list, rc, &e)) {
			r->pending--;
			err_wrap(&e, "list tags of %s: ", rc->src);
			rule_failed(r, rc, &e);
		}
	}
}

/* Report lines in key order (rule, then place), permuted in place: the
 * report is the largest thing a run holds. */
struct sort_item {
	struct line_key key;
	size_t line;
};

static int sort_cmp(const void *a, const void *b)
{
	const struct sort_item *x = a, *y = b;

	if (x->key.rule != y->key.rule)
		return x->key.rule < y->key.rule ? -1 : 1;
	if (x->key.pos != y->key.pos)
		return x->key.pos < y->key.pos ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

static int report_sort(struct run *r, struct err *err)
{
	struct sync_tag_result *v = r->rep->tags, tmp;
	size_t n = r->rep->n;
	struct sort_item *ix = calloc(n + 1, sizeof(*ix));

	if (!ix)
		return err_set(err, ERR_FAIL,
			       "sync: order of %zu lines: out of memory", n);
	for (size_t i = 0; i < n; i++) {
		ix[i].key = r->keys[i];
		ix[i].line = i;
	}
	qsort(ix, n, sizeof(*ix), sort_cmp);
	/* line i takes old line ix[i].line; follow each cycle once */
	for (size_t i = 0; i < n; i++) {
		size_t j = i;

		if (ix[i].line == i)
			continue;
		tmp = v[i];
		while (ix[j].line != i) {
			size_t from = ix[j].line;

			v[j] = v[from];
			ix[j].line = j;
			j = from;
		}
		v[j] = tmp;
		ix[j].line = j;
	}
	for (size_t i = 0; i < n; i++)
		r->keys[i] = ix[i].key;
	free(ix);
	for (size_t i = n; i-- > 0;) {
		if (r->keys[i].rule >= r->cfg->n_rules)
			continue;
		if (!r->rules[r->keys[i].rule].end)
			r->rules[r->keys[i].rule].end = i + 1;
		r->rules[r->keys[i].rule].first = i;
	}
	return 0;
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
	struct sync_tag_result *t = line_add(r, KEY_LAST, KEY_LAST, NULL, NULL);
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

/* The connection pool, with each configured registry's TLS, limits,
 * client certificate and mirrors. */
static int run_connect(struct run *r, const struct reg_options *ro,
		       struct err *err)
{
	int rc = syncconf_hosts_build(&r->hosts, r->cfg, err);

	if (rc)
		return rc;
	reg_pool_init(&r->pool, ro);
	reg_pool_set_hosts(&r->pool, r->hosts.hosts, r->hosts.n);
	r->pool_ready = 1;
	return 0;
}

/* The one pull session of the run: each blob fetched once, each tag moved
 * when its image is complete; plan only in a dry run. */
static int run_session(struct run *r, struct err *err)
{
	struct pull_options po;
	size_t n = r->cfg->n_rules;

	r->rules = calloc(n + 1, sizeof(*r->rules));
	r->rc = calloc(n + 1, sizeof(*r->rc));
	if (!r->rules || !r->rc)
		return err_set(err, ERR_FAIL,
			       "sync: plan of %zu rules: out of memory", n);
	memset(&po, 0, sizeof(po));
	po.plan_only = r->o->dry_run;
	po.concurrency = r->cfg->concurrency > 0 ? r->cfg->concurrency : 8;
	po.progress = on_pull_progress;
	po.ctx = r;
	return pull_session_new(&r->ps, r->s, &r->pool, &po, err);
}

/* Plan and transfer in one pass: every rule submitted, then the engine
 * runs until every list, HEAD and pull is answered (each answer submits
 * what follows from it); then the report in rule and selection order. */
static int run_plan(struct run *r, struct err *err)
{
	for (size_t i = 0; i < r->cfg->n_rules; i++) {
		rule_begin(&r->rc[i], r, i);
		prune_snapshot(r, &r->rc[i]);
	}
	for (size_t i = 0; i < r->cfg->n_rules; i++)
		plan_rule(r, i);
	/* the session drives the pool's engine; should it return with work
	 * of ours left (it only waits for its own), the engine finishes it */
	for (int round = 0; round < 3 && (r->pending || r->pulls || !round);
	     round++) {
		pull_session_run(r->ps);
		if ((r->pending || r->pulls) && r->engine)
			reg_engine_run(r->engine);
	}
	if (r->pending || r->pulls)
		return err_set(err, ERR_FAIL,
			       "sync: %zu requests and %zu pulls left "
			       "unanswered",
			       r->pending, r->pulls);
	return report_sort(r, err);
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
	struct sync_tag_result *t = line_add(r, KEY_LAST, KEY_LAST, repo, tag);
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
		for (size_t k = 0;
		     r->rules[i].pruning && k < r->rules[i].p.n_drop && !r->oom;
		     k++)
			prune_tag(r, r->rules[i].dest, r->rules[i].p.drop[k]);
}

static void run_release(struct run *r)
{
	if (r->rules) {
		for (size_t i = 0; i < r->cfg->n_rules; i++)
			prune_clear(&r->rules[i].p);
		free(r->rules);
	}
	if (r->rc)
		for (size_t i = 0; i < r->cfg->n_rules; i++)
			oci_strv_free(r->rc[i].sel);
	free(r->rc);
	free(r->keys);
	if (r->ps)
		pull_session_free(r->ps);
	if (r->pool_ready)
		reg_pool_release(&r->pool);
	syncconf_hosts_release(&r->hosts);
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
		rc = run_session(&r, err);
	if (!rc)
		rc = run_plan(&r, err);
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
