/* Bundle export and import at the C level: a store filled through the store
 * API, exported whole, against an inventory and in parts, imported into a
 * fresh store; and hand-built hostile tar files that must be refused
 * leaving the receiving store as it was. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <pthread.h>
#include <signal.h>

#include "mirror/bundle.h"
#include "mirror/bundle_format.h"
#include "mirror/inventory.h"
#include "oci/buf.h"
#include "tests/mirror/storefix.h"

#define REPO "docker.io/library/app"

struct world {
	struct fix src, dst;
	char dir[256];
	struct oci_digest a, amd, arm, multi, sbom;
};

static const char *const layers_a[] = {"layer a1", "layer a2"};
static const char *const layers_amd[] = {"layer amd"};
static const char *const layers_arm[] = {"layer arm", "layer a1"};

/* src: REPO:1.0 (an image with an SBOM referrer), REPO:multi (an index
 * over two images sharing a layer with 1.0). dst: empty. */
static void world_setup(struct world *w)
{
	memset(w, 0, sizeof(*w));
	fix_setup(&w->src);
	fix_setup(&w->dst);
	snprintf(w->dir, sizeof(w->dir), "/tmp/ocimirror-bundle-XXXXXX");
	cr_assert(mkdtemp(w->dir));
	w->a = fix_image(&w->src, REPO, "config a", layers_a, 2, NULL, NULL);
	fix_tag(&w->src, REPO, "1.0", &w->a, MT_MANIFEST);
	w->sbom = fix_image(&w->src, REPO, "sbom config", NULL, 0, &w->a,
			    "application/spdx+json");
	fix_referrer(&w->src, REPO, &w->a, &w->sbom);
	w->amd =
	    fix_image(&w->src, REPO, "config amd", layers_amd, 1, NULL, NULL);
	w->arm =
	    fix_image(&w->src, REPO, "config arm", layers_arm, 2, NULL, NULL);
	w->multi = fix_index(&w->src, REPO, &w->amd, &w->arm);
	fix_tag(&w->src, REPO, "multi", &w->multi, MT_INDEX);
}

static void world_teardown(struct world *w)
{
	char cmd[300];

	fix_teardown(&w->src);
	fix_teardown(&w->dst);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", w->dir);
	cr_assert_eq(system(cmd), 0);
}

static const char *in_dir(struct world *w, const char *name)
{
	static char p[2][512];
	static int k;

	k ^= 1;
	snprintf(p[k], sizeof(p[k]), "%s/%s", w->dir, name);
	return p[k];
}

static int export_all(struct world *w, struct bundle_stats *st,
		      const char *path, const char *since, uint64_t split,
		      struct err *e)
{
	struct bundle_export_options o;

	memset(&o, 0, sizeof(o));
	o.all = 1;
	o.since = since;
	o.split = split;
	o.compress = -1;
	return bundle_export(&w->src.st, st, path, &o, e);
}

static struct oci_digest digest_of(const char *text)
{
	struct oci_digest d;

	oci_digest_of(&d, OCI_SHA256, text, strlen(text));
	return d;
}

static void assert_tag(struct fix *f, const char *tag,
		       const struct oci_digest *want)
{
	struct store_ref r;
	struct err e;

	cr_assert_eq(store_tag_get(&r, &f->st, REPO, tag, &e), 0, "%s: %s", tag,
		     e.msg);
	cr_assert_str_eq(r.digest.str, want->str, "tag %s", tag);
}

struct find {
	const char *want;
	int found;
};

static int find_digest(void *ctx, const char *desc)
{
	struct find *f = ctx;

	if (strstr(desc, f->want))
		f->found++;
	return 0;
}

/* Everything 1.0 and multi need, and the referrer, are in f. */
static void assert_world_arrived(struct world *w, struct fix *f)
{
	const char *texts[] = {"config a",   "layer a1",   "layer a2",
			       "config amd", "layer amd",  "config arm",
			       "layer arm",  "sbom config"};
	struct find fd = {w->sbom.str, 0};
	struct err e;

	assert_tag(f, "1.0", &w->a);
	assert_tag(f, "multi", &w->multi);
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct oci_digest d = digest_of(texts[i]);

		cr_assert(fix_blob_present(f, &d), "blob \"%s\" missing",
			  texts[i]);
		cr_assert(store_blob_linked(&f->st, REPO, &d),
			  "blob \"%s\" not linked in " REPO, texts[i]);
	}
	cr_assert(fix_blob_present(f, &w->amd));
	cr_assert(fix_blob_present(f, &w->arm));
	cr_assert(fix_blob_present(f, &w->sbom));
	/* the referrer is recorded against its subject */
	cr_assert_eq(
	    store_referrers_list(&f->st, REPO, &w->a, find_digest, &fd, &e), 0,
	    "%s", e.msg);
	cr_assert_eq(fd.found, 1, "referrer %s of %s recorded %d times",
		     w->sbom.str, w->a.str, fd.found);
}

Test(bundle, whole_store_round_trips_tags_blobs_and_referrers)
{
	struct world w;
	struct bundle_stats st;
	struct err e;
	const char *path;

	world_setup(&w);
	path = in_dir(&w, "all.ocb");
	cr_assert_eq(export_all(&w, &st, path, NULL, 0, &e), 0, "%s", e.msg);
	cr_assert_eq(st.refs, 2);
	/* 4 manifests, an index, 4 configs, 4 distinct layers */
	cr_assert_eq(st.blobs, 13, "blobs: %zu", st.blobs);
	cr_assert_eq(st.blobs_skipped, 0);
	cr_assert_eq(st.parts, 1);
	cr_assert_eq(access(path, F_OK), 0);

	cr_assert_eq(bundle_import(&w.dst.st, &st, &path, 1, &e), 0, "%s",
		     e.msg);
	cr_assert_eq(st.refs, 2);
	cr_assert_eq(st.blobs, 13);
	cr_assert_eq(st.blobs_skipped, 0);
	assert_world_arrived(&w, &w.dst);

	/* a second import stores nothing new */
	cr_assert_eq(bundle_import(&w.dst.st, &st, &path, 1, &e), 0, "%s",
		     e.msg);
	cr_assert_eq(st.blobs, 0);
	cr_assert_eq(st.blobs_skipped, 13);
	world_teardown(&w);
}

Test(bundle, since_an_inventory_leaves_out_what_the_other_side_holds)
{
	static const char *const layers_b[] = {"layer a1", "layer b"};
	struct world w;
	struct bundle_stats st;
	struct oci_digest b, lb, la1;
	struct err e;
	const char *base = NULL, *delta = NULL, *inv = NULL;
	size_t n_inv = 0;
	char *tree;

	world_setup(&w);
	base = in_dir(&w, "base.tar");
	cr_assert_eq(export_all(&w, &st, base, NULL, 0, &e), 0, "%s", e.msg);
	cr_assert_eq(bundle_import(&w.dst.st, &st, &base, 1, &e), 0, "%s",
		     e.msg);
	inv = in_dir(&w, "inventory.json");
	cr_assert_eq(inventory_write(&w.dst.st, &n_inv, inv, &e), 0, "%s",
		     e.msg);
	cr_assert_eq(n_inv, 13);

	/* a new tag sharing "layer a1" with what dst holds */
	b = fix_image(&w.src, REPO, "config b", layers_b, 2, NULL, NULL);
	fix_tag(&w.src, REPO, "2.0", &b, MT_MANIFEST);
	delta = in_dir(&w, "delta.ocb");
	cr_assert_eq(export_all(&w, &st, delta, inv, 0, &e), 0, "%s", e.msg);
	cr_assert_eq(st.refs, 3);
	/* manifest, config and one layer are new */
	cr_assert_eq(st.blobs, 3, "blobs: %zu", st.blobs);
	cr_assert_eq(st.blobs_skipped, 13);

	/* a store without the base cannot take the delta: no tag moves and
	 * no file changes (the verified blobs it wrote are deleted again) */
	{
		struct fix empty;
		char *now;

		fix_setup(&empty);
		tree = fix_tree(&empty);
		cr_assert_eq(bundle_import(&empty.st, &st, &delta, 1, &e),
			     ERR_NOT_FOUND);
		cr_assert(strstr(e.msg, "incomplete"), "%s", e.msg);
		la1 = digest_of("layer a1");
		cr_assert(strstr(e.msg, la1.str), "%s", e.msg);
		now = fix_tree(&empty);
		cr_assert_str_eq(now, tree);
		cr_assert_not(store_repo_exists(&empty.st, REPO));
		free(now);
		free(tree);
		fix_teardown(&empty);
	}

	cr_assert_eq(bundle_import(&w.dst.st, &st, &delta, 1, &e), 0, "%s",
		     e.msg);
	cr_assert_eq(st.blobs, 3);
	assert_tag(&w.dst, "2.0", &b);
	lb = digest_of("layer b");
	cr_assert(fix_blob_present(&w.dst, &lb));
	assert_world_arrived(&w, &w.dst);
	world_teardown(&w);
}

Test(bundle, split_parts_import_in_order_and_a_missing_part_is_refused)
{
	struct world w;
	struct bundle_stats st;
	struct err e;
	char names[16][512];
	const char *parts[16];
	size_t n = 0;
	const char *path;

	world_setup(&w);
	path = in_dir(&w, "split.tar");
	cr_assert_eq(export_all(&w, &st, path, NULL, 4096, &e), 0, "%s", e.msg);
	cr_assert(st.parts >= 3, "parts: %zu", st.parts);
	cr_assert(st.parts <= 16);
	for (size_t i = 0; i < st.parts; i++) {
		struct stat sb;

		snprintf(names[i], sizeof(names[i]), "%s.part-%04zu", path,
			 i + 1);
		cr_assert_eq(stat(names[i], &sb), 0, "%s", names[i]);
		cr_assert(sb.st_size <= 4096, "%s: %lld bytes", names[i],
			  (long long)sb.st_size);
		parts[n++] = names[i];
	}
	cr_assert_neq(access(path, F_OK), 0, "no unsplit file");

	/* the last part left out */
	cr_assert_neq(bundle_import(&w.dst.st, &st, parts, n - 1, &e), 0);
	cr_assert_neq(
	    store_tag_get(&(struct store_ref){0}, &w.dst.st, REPO, "1.0", NULL),
	    0);

	cr_assert_eq(bundle_import(&w.dst.st, &st, parts, n, &e), 0, "%s",
		     e.msg);
	cr_assert_eq(st.parts, n);
	assert_world_arrived(&w, &w.dst);
	world_teardown(&w);
}

/* ---- hostile bundles, built by hand ---- */

struct entry {
	const char *name;
	const char *data;
	size_t len;
	unsigned type;	    /* AE_IFREG when 0 */
	const char *target; /* of a symbolic link */
	unsigned mode;	    /* permission bits; 0644 when 0 */
};

/* The n entries v as a tar at path, zstd-compressed with zstd. */
static void tar_write_as(const char *path, const struct entry *v, size_t n,
			 int zstd)
{
	struct archive *a = archive_write_new();

	cr_assert(a);
	cr_assert_eq(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
	if (zstd)
		cr_assert_eq(archive_write_add_filter_zstd(a), ARCHIVE_OK, "%s",
			     archive_error_string(a));
	cr_assert_eq(archive_write_open_filename(a, path), ARCHIVE_OK, "%s",
		     archive_error_string(a));
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();

		archive_entry_set_pathname(e, v[i].name);
		archive_entry_set_filetype(e, v[i].type ? v[i].type : AE_IFREG);
		archive_entry_set_perm(e, v[i].mode ? v[i].mode : 0644);
		archive_entry_set_size(e, (la_int64_t)v[i].len);
		if (v[i].target)
			archive_entry_set_symlink(e, v[i].target);
		cr_assert_eq(archive_write_header(a, e), ARCHIVE_OK, "%s",
			     archive_error_string(a));
		if (v[i].len)
			cr_assert_eq(archive_write_data(a, v[i].data, v[i].len),
				     (la_ssize_t)v[i].len);
		archive_entry_free(e);
	}
	cr_assert_eq(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
}

static void tar_write(const char *path, const struct entry *v, size_t n)
{
	tar_write_as(path, v, n, 0);
}

/* An image the receiving side does not have, as bundle entries: config,
 * layer, manifest, index.json naming it REPO:evil. */
struct hostile {
	char cfg_name[120], layer_name[120], man_name[120];
	char man[1024], index[1024];
	struct oci_digest cfg, layer, man_d;
	const char *cfg_text, *layer_text;
	size_t layer_len; /* of layer_text */
};

static void blob_name(char *dst, size_t cap, const struct oci_digest *d)
{
	snprintf(dst, cap, "blobs/sha256/%s", oci_digest_hex(d));
}

/* The image with layer (len bytes) for its layer; layer_size is what the
 * manifest says of it, index_size what index.json says of the manifest
 * (-1: the truth). */
static void hostile_build_layer(struct hostile *h, const char *layer,
				size_t len, long long layer_size,
				long long index_size)
{
	h->cfg_text = "hostile config";
	h->layer_text = layer;
	h->layer_len = len;
	h->cfg = digest_of(h->cfg_text);
	oci_digest_of(&h->layer, OCI_SHA256, layer, len);
	snprintf(h->man, sizeof(h->man),
		 "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{"
		 "\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu},"
		 "\"layers\":[{\"mediaType\":\"%s\",\"digest\":\"%s\","
		 "\"size\":%lld}]}",
		 MT_MANIFEST, MT_CONFIG, h->cfg.str, strlen(h->cfg_text),
		 MT_LAYER, h->layer.str,
		 layer_size >= 0 ? layer_size
				 : (long long)h->layer_len);
	h->man_d = digest_of(h->man);
	snprintf(h->index, sizeof(h->index),
		 "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":[{"
		 "\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%lld,"
		 "\"annotations\":{\"org.opencontainers.image.ref.name\":"
		 "\"" REPO ":evil\"}}]}",
		 MT_INDEX, MT_MANIFEST, h->man_d.str,
		 index_size >= 0 ? index_size : (long long)strlen(h->man));
	blob_name(h->cfg_name, sizeof(h->cfg_name), &h->cfg);
	blob_name(h->layer_name, sizeof(h->layer_name), &h->layer);
	blob_name(h->man_name, sizeof(h->man_name), &h->man_d);
}

/* layer_size is what the manifest says of the layer; index_size what
 * index.json says of the manifest (-1: the truth). */
static void hostile_build(struct hostile *h, long long layer_size,
			  long long index_size)
{
	static const char text[] = "hostile layer bytes";

	hostile_build_layer(h, text, strlen(text), layer_size, index_size);
}

#define LAYOUT "{\"imageLayoutVersion\":\"1.0.0\"}"

/* dst holds the world; the import of path fails with code, every file of
 * dst is exactly what it was (the verified blobs it wrote were deleted
 * again) and nothing of the bundle is linked. */
static void assert_refused(struct world *w, const char *path, int code,
			   const char *msg_part, const struct hostile *h)
{
	struct bundle_stats st;
	struct err e;
	char *before, *after;
	int rc;

	before = fix_tree(&w->dst);
	err_clear(&e);
	rc = bundle_import(&w->dst.st, &st, &path, 1, &e);
	cr_assert_eq(rc, code, "rc %d, want %d: %s", rc, code, e.msg);
	cr_assert(strstr(e.msg, msg_part), "message \"%s\" lacks \"%s\"", e.msg,
		  msg_part);
	after = fix_tree(&w->dst);
	cr_assert_str_eq(after, before, "the store's files changed");
	cr_assert_not(store_blob_linked(&w->dst.st, REPO, &h->cfg));
	cr_assert_not(store_blob_linked(&w->dst.st, REPO, &h->layer));
	cr_assert_not(store_blob_linked(&w->dst.st, REPO, &h->man_d));
	cr_assert_neq(store_tag_get(&(struct store_ref){0}, &w->dst.st, REPO,
				    "evil", NULL),
		      0);
	assert_world_arrived(w, &w->dst);
	free(before);
	free(after);
}

/* dst gets the world first, so that "intact" has something to mean. */
static void world_into_dst(struct world *w)
{
	struct bundle_stats st;
	struct err e;
	const char *path = in_dir(w, "world.tar");

	cr_assert_eq(export_all(w, &st, path, NULL, 0, &e), 0, "%s", e.msg);
	cr_assert_eq(bundle_import(&w->dst.st, &st, &path, 1, &e), 0, "%s",
		     e.msg);
}

/* The world in dst and a hostile image built (sizes as hostile_build). */
static void hostile_world(struct world *w, struct hostile *h,
			  long long layer_size, long long index_size)
{
	world_setup(w);
	world_into_dst(w);
	hostile_build(h, layer_size, index_size);
}

/* The honest bundle of h, entry by entry, for a test to spoil one. */
enum { E_LAYOUT, E_CFG, E_LAYER, E_MAN, E_INDEX, E_N };

/* A regular file entry of len bytes. */
static struct entry file_entry(const char *name, const char *data, size_t len)
{
	struct entry e = {name, data, len, 0, NULL, 0};

	return e;
}

static void hostile_entries(struct entry *v, const struct hostile *h)
{
	v[E_LAYOUT] = file_entry("oci-layout", LAYOUT, strlen(LAYOUT));
	v[E_CFG] = file_entry(h->cfg_name, h->cfg_text, strlen(h->cfg_text));
	v[E_LAYER] = file_entry(h->layer_name, h->layer_text, h->layer_len);
	v[E_MAN] = file_entry(h->man_name, h->man, strlen(h->man));
	v[E_INDEX] = file_entry("index.json", h->index, strlen(h->index));
}

/* The n entries v written as the tar NAME in w's directory; its path. */
static const char *tar_in(struct world *w, const char *name,
			  const struct entry *v, size_t n)
{
	const char *path = in_dir(w, name);

	tar_write(path, v, n);
	return path;
}

Test(bundle, the_hostile_image_is_accepted_when_honest)
{
	struct world w;
	struct hostile h;
	struct entry v[E_N];
	struct bundle_stats st;
	struct err e;
	const char *path;

	hostile_world(&w, &h, -1, -1);
	hostile_entries(v, &h);
	path = tar_in(&w, "honest.tar", v, E_N);
	cr_assert_eq(bundle_import(&w.dst.st, &st, &path, 1, &e), 0, "%s",
		     e.msg);
	assert_tag(&w.dst, "evil", &h.man_d);
	cr_assert(fix_blob_present(&w.dst, &h.layer));
	world_teardown(&w);
}

Test(bundle, a_flipped_byte_in_a_blob_is_refused_and_nothing_stays)
{
	struct world w;
	struct hostile h;
	struct entry v[E_N];
	char flipped[64];

	hostile_world(&w, &h, -1, -1);
	snprintf(flipped, sizeof(flipped), "%s", h.layer_text);
	flipped[3] ^= 0x20;
	/* the config arrives whole first: it must go again */
	hostile_entries(v, &h);
	v[E_LAYER].data = flipped;
	v[E_LAYER].len = strlen(flipped);
	assert_refused(&w, tar_in(&w, "flipped.tar", v, E_N), ERR_DIGEST,
		       h.layer_name, &h);
	world_teardown(&w);
}

Test(bundle, a_dotdot_entry_name_is_refused_and_nothing_stays)
{
	struct world w;
	struct hostile h;
	struct entry v[E_N + 1];
	char escaped[300];

	hostile_world(&w, &h, -1, -1);
	/* an escaping entry between the layer and the manifest */
	hostile_entries(v, &h);
	memmove(&v[E_MAN + 1], &v[E_MAN], 2 * sizeof(v[0]));
	v[E_MAN] = file_entry("blobs/sha256/../../../escaped", "x", 1);
	assert_refused(&w, tar_in(&w, "dotdot.tar", v, E_N + 1), ERR_INVALID,
		       "not part of an OCI layout", &h);
	snprintf(escaped, sizeof(escaped), "%s/../escaped", w.dst.root);
	cr_assert_neq(access(escaped, F_OK), 0);
	world_teardown(&w);
}

Test(bundle, a_symlink_entry_is_refused_and_nothing_stays)
{
	struct world w;
	struct hostile h;
	struct entry v[E_N];

	hostile_world(&w, &h, -1, -1);
	/* the layer a link to /etc/passwd, and no manifest entry */
	hostile_entries(v, &h);
	v[E_LAYER] = (struct entry){h.layer_name, "", 0, AE_IFLNK,
				    "/etc/passwd", 0};
	v[E_MAN] = v[E_INDEX];
	assert_refused(&w, tar_in(&w, "link.tar", v, E_N - 1), ERR_INVALID,
		       "links and special files", &h);
	world_teardown(&w);
}

Test(bundle, a_manifest_entry_larger_than_index_json_says_is_refused)
{
	struct world w;
	struct hostile h;
	struct entry v[E_N];

	hostile_world(&w, &h, -1, 40);
	hostile_entries(v, &h);
	assert_refused(&w, tar_in(&w, "index-size.tar", v, E_N), ERR_INVALID,
		       "index.json says", &h);
	world_teardown(&w);
}

Test(bundle, a_layer_entry_larger_than_its_manifest_says_is_refused)
{
	struct world w;
	struct hostile h;
	struct entry v[E_N];

	hostile_world(&w, &h, 5, -1);
	hostile_entries(v, &h);
	assert_refused(&w, tar_in(&w, "layer-size.tar", v, E_N), ERR_INVALID,
		       "is 5 bytes", &h);
	world_teardown(&w);
}

Test(bundle, a_truncated_bundle_is_refused_and_nothing_stays)
{
	struct world w;
	struct hostile h;
	struct entry v[E_N];
	const char *path;
	struct stat sb;

	hostile_world(&w, &h, -1, -1);
	hostile_entries(v, &h);
	path = tar_in(&w, "cut.tar", v, E_N);
	/* cut inside the layer's data: 3 entries of header + data */
	cr_assert_eq(stat(path, &sb), 0);
	cr_assert_eq(truncate(path, 3 * 512 + 512 + 512 + 10), 0);
	assert_refused(&w, path, ERR_INVALID, "truncated", &h);
	world_teardown(&w);
}

Test(bundle, a_setuid_entry_is_refused_and_nothing_stays)
{
	struct world w;
	struct hostile h;
	struct entry v[E_N];

	hostile_world(&w, &h, -1, -1);
	hostile_entries(v, &h);
	v[E_LAYER].mode = 04755;
	assert_refused(&w, tar_in(&w, "setuid.tar", v, E_N), ERR_INVALID,
		       "setuid", &h);
	world_teardown(&w);
}

/* ---- what the bundle holds, said before the blobs ---- */

/* ocimirror-bundle.json for h as an export writes it: the reference, and
 * the list of its blobs with their sizes; the layer listed as layer_size
 * bytes (-1: the truth), or not at all when list_layer is 0. */
static void hostile_desc(char *dst, size_t cap, const struct hostile *h,
			 long long layer_size, int list_layer)
{
	char layer[256] = "";

	if (list_layer)
		snprintf(layer, sizeof(layer),
			 "{\"digest\":\"%s\",\"size\":%lld},", h->layer.str,
			 layer_size >= 0 ? layer_size
					 : (long long)h->layer_len);
	snprintf(dst, cap,
		 "{\"tool\":\"test\",\"references\":[{\"ref\":\"" REPO
		 ":evil\",\"digest\":\"%s\",\"manifests\":[\"%s\"],"
		 "\"blobs\":[\"%s\",\"%s\"]}],\"contents\":["
		 "{\"digest\":\"%s\",\"size\":%zu},%s"
		 "{\"digest\":\"%s\",\"size\":%zu}]}",
		 h->man_d.str, h->man_d.str, h->cfg.str, h->layer.str,
		 h->cfg.str, strlen(h->cfg_text), layer, h->man_d.str,
		 strlen(h->man));
}

/* h's entries in the order an export writes them: oci-layout,
 * index.json, the description desc, then config, layer, manifest. */
static size_t listed_entries(struct entry *v, const struct hostile *h,
			     const char *desc)
{
	struct entry old[E_N];

	hostile_entries(old, h);
	v[0] = old[E_LAYOUT];
	v[1] = old[E_INDEX];
	v[2] = file_entry("ocimirror-bundle.json", desc, strlen(desc));
	v[3] = old[E_CFG];
	v[4] = old[E_LAYER];
	v[5] = old[E_MAN];
	return 6;
}

/* Bytes of every file under root. */
static long long tree_bytes_acc;

static int bytes_one(const char *p, const struct stat *st, int flag,
		     struct FTW *ftw)
{
	(void)p;
	(void)ftw;
	if (flag == FTW_F)
		tree_bytes_acc += (long long)st->st_size;
	return 0;
}

static long long tree_bytes(const char *root)
{
	tree_bytes_acc = 0;
	cr_assert_eq(nftw(root, bytes_one, 16, FTW_PHYS), 0);
	return tree_bytes_acc;
}

#define BOMB_BYTES (48u * 1024 * 1024)

Test(bundle, a_zstd_bomb_stops_at_the_listed_size_and_the_store_is_unchanged)
{
	struct world w;
	struct hostile h;
	struct entry v[6];
	char desc[2048];
	char *zeros = calloc(1, BOMB_BYTES);
	const char *path;
	struct stat sb;
	long long before;
	size_t n;

	cr_assert(zeros);
	/* a layer of 48 MiB of zeros that the manifest and the list call
	 * 1000 bytes: a few KiB of zstd */
	hostile_world(&w, &h, -1, -1);
	hostile_build_layer(&h, zeros, BOMB_BYTES, 1000, -1);
	hostile_desc(desc, sizeof(desc), &h, 1000, 1);
	n = listed_entries(v, &h, desc);
	path = in_dir(&w, "bomb.tar.zst");
	tar_write_as(path, v, n, 1);
	cr_assert_eq(stat(path, &sb), 0);
	cr_assert(sb.st_size < 256 * 1024, "bomb is %lld bytes",
		  (long long)sb.st_size);
	before = tree_bytes(w.dst.root);
	assert_refused(&w, path, ERR_INVALID, "lists 1000", &h);
	cr_assert_eq(tree_bytes(w.dst.root), before,
		     "the store grew from %lld to %lld bytes", before,
		     tree_bytes(w.dst.root));
	cr_assert_not(fix_blob_present(&w.dst, &h.layer));
	free(zeros);
	world_teardown(&w);
}

Test(bundle, a_blob_its_list_does_not_name_is_refused_before_it_is_written)
{
	struct world w;
	struct hostile h;
	struct entry v[6];
	char desc[2048];
	size_t n;

	hostile_world(&w, &h, -1, -1);
	hostile_desc(desc, sizeof(desc), &h, -1, 0);
	n = listed_entries(v, &h, desc);
	assert_refused(&w, tar_in(&w, "unlisted.tar", v, n), ERR_INVALID,
		       "not listed", &h);
	cr_assert_not(fix_blob_present(&w.dst, &h.cfg), "config kept");
	world_teardown(&w);
}

Test(bundle, a_listed_bundle_is_accepted_when_honest)
{
	struct world w;
	struct hostile h;
	struct entry v[6];
	struct bundle_stats st;
	char desc[2048];
	struct err e;
	const char *path;
	size_t n;

	hostile_world(&w, &h, -1, -1);
	hostile_desc(desc, sizeof(desc), &h, -1, 1);
	n = listed_entries(v, &h, desc);
	path = tar_in(&w, "listed.tar", v, n);
	cr_assert_eq(bundle_import(&w.dst.st, &st, &path, 1, &e), 0, "%s",
		     e.msg);
	assert_tag(&w.dst, "evil", &h.man_d);
	cr_assert_eq(st.blobs, 3);
	world_teardown(&w);
}

Test(bundle, a_failed_import_deletes_what_it_wrote_and_keeps_what_was_there)
{
	struct world w;
	struct hostile h;
	struct entry v[E_N];
	char flipped[64], *before, *after;
	struct bundle_stats st;
	struct err e;
	const char *path;

	hostile_world(&w, &h, -1, -1);
	/* the store holds the config already; the layer is spoilt after a
	 * new blob (the manifest, moved first) was written */
	fix_blob(&w.dst, h.cfg_text);
	hostile_entries(v, &h);
	{
		struct entry man = v[E_MAN];

		/* oci-layout, manifest, config, layer, index.json */
		memmove(&v[E_CFG + 1], &v[E_CFG], 2 * sizeof(v[0]));
		v[E_CFG] = man;
	}
	snprintf(flipped, sizeof(flipped), "%s", h.layer_text);
	flipped[0] ^= 0x20;
	cr_assert_str_eq(v[E_MAN].name, h.layer_name);
	v[E_MAN].data = flipped;
	path = tar_in(&w, "spoilt.tar", v, E_N);
	before = fix_tree(&w.dst);
	cr_assert_eq(bundle_import(&w.dst.st, &st, &path, 1, &e), ERR_DIGEST,
		     "%s", e.msg);
	after = fix_tree(&w.dst);
	cr_assert_str_eq(after, before);
	cr_assert(fix_blob_present(&w.dst, &h.cfg), "the config was there");
	cr_assert_not(fix_blob_present(&w.dst, &h.man_d), "manifest kept");
	free(before);
	free(after);
	world_teardown(&w);
}

/* The entry names of the tar at path, in order, as "a b c". */
static char *tar_names(const char *path)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	struct buf b;
	size_t len;

	buf_init(&b, 1 << 20);
	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	cr_assert_eq(archive_read_open_filename(a, path, 65536), ARCHIVE_OK);
	while (archive_read_next_header(a, &e) == ARCHIVE_OK)
		buf_printf(&b, "%s%s", b.len ? " " : "",
			   archive_entry_pathname(e));
	archive_read_free(a);
	return buf_detach(&b, &len);
}

Test(bundle, an_export_names_its_blobs_and_sizes_before_them)
{
	struct world w;
	struct bundle_stats st;
	struct err e;
	const char *path;
	char *names, want[256];
	struct oci_digest l = digest_of("layer a2");

	world_setup(&w);
	path = in_dir(&w, "order.tar");
	cr_assert_eq(export_all(&w, &st, path, NULL, 0, &e), 0, "%s", e.msg);
	names = tar_names(path);
	cr_assert(!strncmp(names,
			   "oci-layout index.json ocimirror-bundle.json blobs/",
			   50),
		  "entries: %.200s", names);
	free(names);
	/* the list names every blob with its size */
	{
		struct archive *a = archive_read_new();
		struct archive_entry *ae;
		char text[65536];
		la_ssize_t n;

		archive_read_support_format_tar(a);
		cr_assert_eq(archive_read_open_filename(a, path, 65536),
			     ARCHIVE_OK);
		do
			cr_assert_eq(archive_read_next_header(a, &ae),
				     ARCHIVE_OK);
		while (strcmp(archive_entry_pathname(ae),
			      "ocimirror-bundle.json"));
		n = archive_read_data(a, text, sizeof(text) - 1);
		cr_assert(n > 0);
		text[n] = 0;
		snprintf(want, sizeof(want), "{\"digest\":\"%s\",\"size\":8}",
			 l.str);
		cr_assert(strstr(text, want), "%s lacks %s", text, want);
		archive_read_free(a);
	}
	world_teardown(&w);
}

Test(bundle, an_older_bundle_with_index_json_last_still_imports)
{
	struct world w;
	struct hostile h;
	struct entry v[E_N + 1];
	struct bundle_stats st;
	char desc[2048];
	struct err e;
	const char *path;

	/* as exports wrote them before the list: oci-layout, the blobs,
	 * index.json, then the description (without "contents") */
	hostile_world(&w, &h, -1, -1);
	hostile_entries(v, &h);
	snprintf(desc, sizeof(desc),
		 "{\"tool\":\"ocimirror 0.1.0\",\"references\":[{\"ref\":"
		 "\"" REPO ":evil\",\"digest\":\"%s\",\"manifests\":[\"%s\"],"
		 "\"blobs\":[\"%s\",\"%s\"]}],\"blobs\":3}",
		 h.man_d.str, h.man_d.str, h.cfg.str, h.layer.str);
	v[E_N] = file_entry("ocimirror-bundle.json", desc, strlen(desc));
	path = tar_in(&w, "old-order.tar", v, E_N + 1);
	cr_assert_eq(bundle_import(&w.dst.st, &st, &path, 1, &e), 0, "%s",
		     e.msg);
	assert_tag(&w.dst, "evil", &h.man_d);
	cr_assert_eq(st.blobs, 3);
	world_teardown(&w);
}

Test(bundle, the_space_check_names_what_is_needed_and_what_is_free)
{
	struct err e;

	err_clear(&e);
	cr_assert_eq(bundle_space_check(1000, 2, 1000, "/srv/m", &e), 0);
	cr_assert_eq(bundle_space_check(0, 0, 0, "/srv/m", &e), 0);
	cr_assert_eq(bundle_space_check(5ull << 30, 3, 1ull << 30, "/srv/m",
					&e),
		     ERR_TOO_LARGE);
	cr_assert(strstr(e.msg, "5368709120 bytes (5.0 GiB) for 3 new blobs"),
		  "%s", e.msg);
	cr_assert(strstr(e.msg, "/srv/m has 1073741824 bytes (1.0 GiB) free"),
		  "%s", e.msg);
	cr_assert(strstr(e.msg, "nothing imported"), "%s", e.msg);
	cr_assert_null(strstr(e.msg, "not found"), "%s", e.msg);
}

/* The blob of "layer a1" in src spoilt by one flipped byte. */
static struct oci_digest spoil_layer(struct world *w)
{
	struct oci_digest d = digest_of("layer a1");
	char *p = fix_blob_path(&w->src.st, &d);
	int fd = open(p, O_WRONLY);

	cr_assert(fd >= 0, "%s", p);
	cr_assert_eq(pwrite(fd, "L", 1, 0), 1);
	close(fd);
	free(p);
	return d;
}

static void assert_dir_empty(const char *dir)
{
	char cmd[600];
	FILE *f;
	char line[600] = "";

	snprintf(cmd, sizeof(cmd), "ls -A %s", dir);
	f = popen(cmd, "r");
	cr_assert(f);
	if (!fgets(line, sizeof(line), f))
		line[0] = 0;
	pclose(f);
	cr_assert_str_eq(line, "", "%s holds %s", dir, line);
}

Test(bundle, a_corrupt_stored_blob_stops_the_export_and_leaves_no_file)
{
	struct world w;
	struct bundle_stats st;
	struct oci_digest d;
	struct err e;

	world_setup(&w);
	d = spoil_layer(&w);
	err_clear(&e);
	cr_assert_eq(export_all(&w, &st, in_dir(&w, "bad.tar.zst"), NULL, 0,
				&e),
		     ERR_DIGEST, "%s", e.msg);
	cr_assert(strstr(e.msg, d.str), "%s", e.msg);
	cr_assert(strstr(e.msg, "ocimirror verify"), "%s", e.msg);
	/* in parts: none stays, not even the ones written whole */
	err_clear(&e);
	cr_assert_eq(
	    export_all(&w, &st, in_dir(&w, "bad.tar"), NULL, 2048, &e),
	    ERR_DIGEST, "%s", e.msg);
	assert_dir_empty(w.dir);
	world_teardown(&w);
}

Test(bundle, a_tar_cut_at_an_entry_boundary_is_called_truncated)
{
	struct world w;
	struct hostile h;
	struct entry v[E_N];
	const char *path;

	hostile_world(&w, &h, -1, -1);
	hostile_entries(v, &h);
	path = tar_in(&w, "boundary.tar", v, E_N);
	/* oci-layout, config and layer: a header and one data block each */
	cr_assert_eq(truncate(path, 3 * 1024), 0);
	assert_refused(&w, path, ERR_INVALID, "truncated", &h);
	world_teardown(&w);
}

Test(bundle, an_index_json_that_does_not_parse_keeps_its_parse_error)
{
	struct world w;
	struct hostile h;
	struct entry v[E_N];
	static const char bad[] = "{\"schemaVersion\":2,\"manifests\":[";

	hostile_world(&w, &h, -1, -1);
	hostile_entries(v, &h);
	v[E_INDEX] = file_entry("index.json", bad, strlen(bad));
	assert_refused(&w, tar_in(&w, "badindex.tar", v, E_N), ERR_INVALID,
		       "index.json: not valid JSON: ", &h);
	world_teardown(&w);
}

/* ---- staging: nothing reaches blobs/ before every check passed ---- */

#define OTHER "docker.io/library/other"

/* The listing of blobs/ (digest and size of each), as "d size\n"... */
static int blob_line(void *ctx, const struct oci_digest *d, int64_t size)
{
	struct buf *b = ctx;

	buf_printf(b, "%s %lld\n", d->str, (long long)size);
	return 0;
}

static char *blobs_listing(struct fix *f)
{
	struct buf b;
	struct err e;
	size_t len;

	buf_init(&b, 1u << 20);
	buf_printf(&b, "%s", "");
	cr_assert_eq(store_blobs_each(&f->st, blob_line, &b, &e), 0, "%s",
		     e.msg);
	return buf_detach(&b, &len);
}

/* 1 when a file under f's tmp/ holds exactly text. */
static int tmp_holds(struct fix *f, const char *text)
{
	char dir[512], p[800], got[2048];
	struct dirent *de;
	DIR *dp;
	int found = 0;

	snprintf(dir, sizeof(dir), "%s/tmp", f->root);
	dp = opendir(dir);
	if (!dp)
		return 0;
	while (!found && (de = readdir(dp))) {
		int fd;
		ssize_t n;

		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		fd = open(p, O_RDONLY);
		if (fd < 0)
			continue;
		n = read(fd, got, sizeof(got));
		close(fd);
		found = n == (ssize_t)strlen(text) && !memcmp(got, text, n);
	}
	closedir(dp);
	return found;
}

static size_t tmp_count(struct fix *f)
{
	char dir[512];
	struct dirent *de;
	DIR *dp;
	size_t n = 0;

	snprintf(dir, sizeof(dir), "%s/tmp", f->root);
	dp = opendir(dir);
	cr_assert(dp, "%s", dir);
	while ((de = readdir(dp)))
		if (de->d_name[0] != '.')
			n++;
	closedir(dp);
	return n;
}

/* Feeds a bundle through a FIFO in two halves; between them, once the
 * import holds the manifest (written by it, staged or published), takes
 * the listing of blobs/ and, with push, does what serve does for a push
 * of the same manifest into OTHER: store_blob_put, link, tag (no lock). */
struct feeder {
	struct world *w;
	const struct hostile *h;
	const char *fifo;
	const char *bytes;
	size_t n, split;
	int push;
	int seen, pushed;
	char *blobs_mid;
	char msg[512];
};

static void feed_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t r = write(fd, p, n);

		if (r <= 0)
			return;
		p += r;
		n -= (size_t)r;
	}
}

static void *feeder_run(void *arg)
{
	struct feeder *f = arg;
	int fd = open(f->fifo, O_WRONLY);
	struct fix *dst = &f->w->dst;

	if (fd < 0)
		return NULL;
	feed_all(fd, f->bytes, f->split);
	/* bounded by the harness's timeout, not asserted on */
	for (int i = 0; i < 200000 && !f->seen; i++) {
		f->seen = fix_blob_present(dst, &f->h->man_d) ||
			  tmp_holds(dst, f->h->man);
		if (!f->seen)
			usleep(1000);
	}
	f->blobs_mid = blobs_listing(dst);
	if (f->push) {
		struct store_ref sr;
		struct err e;

		sr.digest = f->h->man_d;
		snprintf(sr.media_type, sizeof(sr.media_type), "%s",
			 MT_MANIFEST);
		sr.size = (int64_t)strlen(f->h->man);
		f->pushed =
		    !store_blob_put(&dst->st, &f->h->man_d, f->h->man,
				    strlen(f->h->man), &e) &&
		    !store_manifest_link(&dst->st, OTHER, &sr, &e) &&
		    !store_tag_set(&dst->st, OTHER, "pushed", &sr, &e);
		if (!f->pushed)
			snprintf(f->msg, sizeof(f->msg), "%s", e.msg);
	}
	feed_all(fd, f->bytes + f->split, f->n - f->split);
	close(fd);
	return NULL;
}

/* Offset of the header of entry `name` in the tar at path. */
static size_t tar_entry_offset(const char *path, const char *name)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	la_int64_t at = -1;

	archive_read_support_format_tar(a);
	cr_assert_eq(archive_read_open_filename(a, path, 10240), ARCHIVE_OK);
	while (archive_read_next_header(a, &e) == ARCHIVE_OK)
		if (!strcmp(archive_entry_pathname(e), name)) {
			at = archive_read_header_position(a);
			break;
		}
	archive_read_free(a);
	cr_assert_geq(at, 0, "%s not in %s", name, path);
	return (size_t)at;
}

/* An unlisted bundle of h (oci-layout, manifest, config, layer spoilt,
 * index.json) fed through a FIFO, the second half after the manifest is
 * in the import's hands; the import fails on the layer. */
static void spoilt_through_fifo(struct world *w, struct hostile *h,
				struct feeder *f, int push)
{
	struct entry v[E_N];
	char flipped[64], *bytes;
	struct bundle_stats st;
	struct err e;
	const char *path, *fifo;
	pthread_t th;
	size_t n;
	FILE *fp;

	hostile_entries(v, h);
	{
		struct entry man = v[E_MAN];

		memmove(&v[E_CFG + 1], &v[E_CFG], 2 * sizeof(v[0]));
		v[E_CFG] = man;
	}
	snprintf(flipped, sizeof(flipped), "%s", h->layer_text);
	flipped[0] ^= 0x20;
	cr_assert_str_eq(v[E_MAN].name, h->layer_name);
	v[E_MAN].data = flipped;
	path = tar_in(w, "spoilt.tar", v, E_N);
	fp = fopen(path, "rb");
	cr_assert(fp);
	bytes = malloc(1u << 20);
	n = fread(bytes, 1, 1u << 20, fp);
	fclose(fp);
	memset(f, 0, sizeof(*f));
	f->w = w;
	f->h = h;
	f->bytes = bytes;
	f->n = n;
	f->split = tar_entry_offset(path, h->layer_name);
	f->push = push;
	fifo = in_dir(w, "feed.fifo");
	f->fifo = fifo;
	cr_assert_eq(mkfifo(fifo, 0600), 0, "%s", strerror(errno));
	/* an import that stops reading early fails the test, not kills it */
	signal(SIGPIPE, SIG_IGN);
	cr_assert_eq(pthread_create(&th, NULL, feeder_run, f), 0);
	err_clear(&e);
	cr_assert_eq(bundle_import(&w->dst.st, &st, &fifo, 1, &e), ERR_DIGEST,
		     "%s", e.msg);
	cr_assert_eq(pthread_join(th, NULL), 0);
	cr_assert(f->seen, "the import never held the manifest");
	free(bytes);
}

Test(bundle, a_push_of_the_same_manifest_during_a_failed_import_survives)
{
	struct world w;
	struct hostile h;
	struct feeder f;
	struct store_ref r;
	struct err e;
	char *raw = NULL;
	size_t len;

	hostile_world(&w, &h, -1, -1);
	spoilt_through_fifo(&w, &h, &f, 1);
	cr_assert(f.pushed, "the push failed: %s", f.msg);
	/* the pushed tag still resolves to a stored manifest */
	cr_assert_eq(store_tag_get(&r, &w.dst.st, OTHER, "pushed", &e), 0,
		     "%s", e.msg);
	cr_assert_str_eq(r.digest.str, h.man_d.str);
	cr_assert(fix_blob_present(&w.dst, &h.man_d),
		  "the pushed manifest was deleted by the failed import");
	cr_assert_eq(store_blob_read(&raw, &len, &w.dst.st, &h.man_d, 1u << 20,
				     &e),
		     0, "%s", e.msg);
	cr_assert_eq(len, strlen(h.man));
	cr_assert_eq(memcmp(raw, h.man, len), 0);
	cr_assert_neq(store_tag_get(&r, &w.dst.st, REPO, "evil", NULL), 0);
	cr_assert_eq(tmp_count(&w.dst), 0, "staged files left in tmp/");
	free(raw);
	free(f.blobs_mid);
	world_teardown(&w);
}

Test(bundle, a_failed_import_stages_in_tmp_and_leaves_blobs_untouched)
{
	struct world w;
	struct hostile h;
	struct feeder f;
	char *before, *blobs_before, *after;

	hostile_world(&w, &h, -1, -1);
	before = fix_tree(&w.dst);
	blobs_before = blobs_listing(&w.dst);
	spoilt_through_fifo(&w, &h, &f, 0);
	/* while the import ran, with the manifest and config in its
	 * hands: blobs/ as it was */
	cr_assert_str_eq(f.blobs_mid, blobs_before,
			 "blobs/ changed during the import");
	after = fix_tree(&w.dst);
	cr_assert_str_eq(after, before, "the store's files changed");
	cr_assert_eq(tmp_count(&w.dst), 0, "staged files left in tmp/");
	cr_assert_not(fix_blob_present(&w.dst, &h.man_d));
	cr_assert_not(fix_blob_present(&w.dst, &h.cfg));
	free(before);
	free(blobs_before);
	free(after);
	free(f.blobs_mid);
	world_teardown(&w);
}

Test(bundle, listed_sizes_that_overflow_are_refused_before_a_blob)
{
	struct world w;
	struct hostile h;
	struct entry v[6];
	char desc[2048];
	size_t n;

	hostile_world(&w, &h, -1, -1);
	/* 2 * INT64_MAX + 2 = 2^64: wraps to 0 in 64 bits */
	snprintf(desc, sizeof(desc),
		 "{\"tool\":\"test\",\"references\":[],\"contents\":["
		 "{\"digest\":\"%s\",\"size\":9223372036854775807},"
		 "{\"digest\":\"%s\",\"size\":9223372036854775807},"
		 "{\"digest\":\"%s\",\"size\":2}]}",
		 h.cfg.str, h.layer.str, h.man_d.str);
	n = listed_entries(v, &h, desc);
	assert_refused(&w, tar_in(&w, "overflow.tar", v, n), ERR_TOO_LARGE,
		       "add up to more than 18446744073709551615 bytes", &h);
	cr_assert_eq(tmp_count(&w.dst), 0);
	world_teardown(&w);
}

Test(bundle, an_unparsable_planned_manifest_is_refused_with_nothing_published)
{
	struct world w;
	struct hostile h;
	struct entry v[6];
	char desc[2048];
	size_t n;

	hostile_world(&w, &h, -1, -1);
	/* the "manifest" is not one; the description plans it with the
	 * config and layer */
	snprintf(h.man, sizeof(h.man), "%s", "this is not a manifest");
	h.man_d = digest_of(h.man);
	blob_name(h.man_name, sizeof(h.man_name), &h.man_d);
	snprintf(h.index, sizeof(h.index),
		 "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":[{"
		 "\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu,"
		 "\"annotations\":{\"org.opencontainers.image.ref.name\":"
		 "\"" REPO ":evil\"}}]}",
		 MT_INDEX, MT_MANIFEST, h.man_d.str, strlen(h.man));
	hostile_desc(desc, sizeof(desc), &h, -1, 1);
	n = listed_entries(v, &h, desc);
	assert_refused(&w, tar_in(&w, "notamanifest.tar", v, n), ERR_INVALID,
		       "is not a manifest ocimirror can read", &h);
	cr_assert_not(fix_blob_present(&w.dst, &h.man_d));
	cr_assert_not(fix_blob_present(&w.dst, &h.cfg));
	cr_assert_not(fix_blob_present(&w.dst, &h.layer));
	cr_assert_eq(tmp_count(&w.dst), 0);
	world_teardown(&w);
}

/* Names in dir containing part, counted. */
static size_t names_with(const char *dir, const char *part)
{
	struct dirent *de;
	DIR *dp = opendir(dir);
	size_t n = 0;

	cr_assert(dp, "%s", dir);
	while ((de = readdir(dp)))
		if (strstr(de->d_name, part))
			n++;
	closedir(dp);
	return n;
}

Test(bundle, an_export_that_cannot_rename_a_part_keeps_the_earlier_bundle)
{
	struct world w;
	struct bundle_stats st;
	struct err e;
	char names[16][512], inner[600];
	ino_t ino[16];
	const char *path;
	size_t n;

	world_setup(&w);
	path = in_dir(&w, "again.tar");
	cr_assert_eq(export_all(&w, &st, path, NULL, 4096, &e), 0, "%s", e.msg);
	n = st.parts;
	cr_assert(n >= 3 && n <= 16, "parts: %zu", n);
	for (size_t i = 0; i < n; i++) {
		struct stat sb;

		snprintf(names[i], sizeof(names[i]), "%s.part-%04zu", path,
			 i + 1);
		cr_assert_eq(stat(names[i], &sb), 0, "%s", names[i]);
		ino[i] = sb.st_ino;
	}
	/* the last part's name taken by a directory: its rename fails
	 * after the parts before it were renamed over the earlier ones */
	cr_assert_eq(unlink(names[n - 1]), 0);
	cr_assert_eq(mkdir(names[n - 1], 0755), 0);
	snprintf(inner, sizeof(inner), "%s/x", names[n - 1]);
	cr_assert_eq(close(open(inner, O_CREAT | O_WRONLY, 0644)), 0);
	err_clear(&e);
	cr_assert_eq(export_all(&w, &st, path, NULL, 4096, &e), ERR_FAIL);
	cr_assert(strstr(e.msg, names[n - 1]), "%s", e.msg);
	for (size_t i = 0; i + 1 < n; i++) {
		struct stat sb;

		cr_assert_eq(stat(names[i], &sb), 0,
			     "%s of the earlier bundle is gone", names[i]);
		cr_assert_eq(sb.st_ino, ino[i], "%s is not the earlier file",
			     names[i]);
	}
	cr_assert_eq(names_with(w.dir, ".old-"), 0, "a kept file left over");
	cr_assert_eq(names_with(w.dir, ".tmp-"), 0, "a temp part left over");

	/* with the name free again, the export replaces the bundle */
	cr_assert_eq(unlink(inner), 0);
	cr_assert_eq(rmdir(names[n - 1]), 0);
	cr_assert_eq(export_all(&w, &st, path, NULL, 4096, &e), 0, "%s", e.msg);
	cr_assert_eq(st.parts, n);
	cr_assert_eq(names_with(w.dir, ".old-"), 0, "a kept file left over");
	for (size_t i = 0; i + 1 < n; i++) {
		struct stat sb;

		cr_assert_eq(stat(names[i], &sb), 0, "%s", names[i]);
		cr_assert_neq(sb.st_ino, ino[i], "%s not replaced", names[i]);
	}
	world_teardown(&w);
}

/* ---- the stream cap: data beyond the header's size ---- */

/* A tar's header says how long an entry is, and the list must agree with
 * it; yet libarchive's reader hands out more than the header's size for
 * a GNU sparse 1.0 (pax) entry whose map puts a block past its
 * GNU.sparse.realsize (holes filled with zeros up to that block). This
 * writes h's listed bundle with the layer as such an entry: realsize
 * 1000 (what the manifest and the list say), one 10-byte block at
 * 48 MiB. */
static void sparse_bomb_write(const char *path, const struct entry *v,
			      size_t n, size_t layer_at)
{
	struct archive *a = archive_write_new();
	char *all, *map;
	size_t len;
	FILE *fp;

	cr_assert_eq(archive_write_set_format_pax(a), ARCHIVE_OK);
	cr_assert_eq(archive_write_open_filename(a, path), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();

		archive_entry_set_pathname(e, v[i].name);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		if (i == layer_at) {
			archive_entry_set_size(e, 1000);
			archive_entry_sparse_add_entry(e, 0, 10);
		} else {
			archive_entry_set_size(e, (la_int64_t)v[i].len);
		}
		cr_assert_eq(archive_write_header(a, e), ARCHIVE_OK, "%s",
			     archive_error_string(a));
		if (i == layer_at)
			cr_assert_eq(archive_write_data(a, "0123456789", 10),
				     10);
		else if (v[i].len)
			cr_assert_eq(archive_write_data(a, v[i].data, v[i].len),
				     (la_ssize_t)v[i].len);
		archive_entry_free(e);
	}
	cr_assert_eq(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	/* the map libarchive wrote ("2\n0\n10\n1000\n0\n": the block, then
	 * the end) moved past the realsize */
	fp = fopen(path, "r+b");
	cr_assert(fp);
	all = malloc(1u << 20);
	len = fread(all, 1, 1u << 20, fp);
	map = memmem(all, len, "2\n0\n10\n1000\n0\n", 14);
	cr_assert(map, "no sparse map in %s", path);
	cr_assert_eq((map - all) % 512, 0);
	memset(map, 0, 14);
	memcpy(map, "1\n50331648\n10\n", 14);
	cr_assert_eq(fseek(fp, map - all, SEEK_SET), 0);
	cr_assert_eq(fwrite(map, 1, 14, fp), 14);
	cr_assert_eq(fclose(fp), 0);
	free(all);
}

Test(bundle, a_sparse_entry_longer_than_its_header_stops_at_the_listed_size)
{
	struct world w;
	struct hostile h;
	struct entry v[6];
	char desc[2048];
	const char *path;
	long long before;
	size_t n;

	hostile_world(&w, &h, 1000, -1);
	hostile_desc(desc, sizeof(desc), &h, 1000, 1);
	n = listed_entries(v, &h, desc);
	cr_assert_str_eq(v[4].name, h.layer_name);
	path = in_dir(&w, "sparse.tar");
	sparse_bomb_write(path, v, n, 4);
	before = tree_bytes(w.dst.root);
	assert_refused(&w, path, ERR_INVALID,
		       "more data than the 1000 bytes listed", &h);
	cr_assert_eq(tree_bytes(w.dst.root), before);
	cr_assert_eq(tmp_count(&w.dst), 0);
	world_teardown(&w);
}
