/* mirror/margo/compose: images through YAML merge keys, extends within
 * the file, profiles. Every test asserts the exact list found. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mirror/margo/compose.h"
#include "tests/mirror/imagesfix.h"
#include "tests/oci/fnvcollide.h"

static struct margo_images imgs;
static struct err err;

static void init(void)
{
	memset(&imgs, 0, sizeof(imgs));
	err_clear(&err);
}

static void fini(void)
{
	margo_images_release(&imgs);
}

TestSuite(margo_compose, .init = init, .fini = fini);

/* "ref|where|problem" per image, one per line */
static const char *listing(void)
{
	return fix_images_listing(&imgs);
}

static int images(const char *yaml, const char *dotenv)
{
	return margo_compose_file_images(&imgs, yaml, strlen(yaml),
					 "compose.yaml", dotenv, &err);
}

/* Shaped like Apache Airflow's docker-compose.yaml: the services get
 * their image and environment from x-airflow-common by <<. */
static const char airflow[] =
    "x-airflow-common:\n"
    "  &airflow-common\n"
    "  image: ${AIRFLOW_IMAGE_NAME:-apache/airflow:2.10.3}\n"
    "  environment:\n"
    "    &airflow-common-env\n"
    "    AIRFLOW__CORE__EXECUTOR: CeleryExecutor\n"
    "  user: \"${AIRFLOW_UID:-50000}:0\"\n"
    "services:\n"
    "  postgres:\n"
    "    image: postgres:13\n"
    "  redis:\n"
    "    image: redis:7.2-bookworm\n"
    "  airflow-webserver:\n"
    "    <<: *airflow-common\n"
    "    command: webserver\n"
    "  airflow-scheduler:\n"
    "    <<: *airflow-common\n"
    "    command: scheduler\n"
    "  airflow-worker:\n"
    "    <<: *airflow-common\n"
    "    command: celery worker\n"
    "    environment:\n"
    "      <<: *airflow-common-env\n"
    "      DUMB_INIT_SETSID: \"0\"\n"
    "  flower:\n"
    "    <<: *airflow-common\n"
    "    image: registry.example.com/tools/flower:2.0\n"
    "    profiles:\n"
    "      - flower\n";

Test(margo_compose, images_through_merge_keys)
{
	cr_assert_eq(images(airflow, NULL), 0, "%s", err.msg);
	cr_assert_str_eq(
	    listing(),
	    "docker.io/library/postgres:13|compose.yaml: "
	    "services.postgres.image|\n"
	    "docker.io/library/redis:7.2-bookworm|compose.yaml: "
	    "services.redis.image|\n"
	    "docker.io/apache/airflow:2.10.3|compose.yaml: "
	    "services.airflow-webserver.image|\n"
	    "registry.example.com/tools/flower:2.0|compose.yaml: "
	    "services.flower.image (profiles: flower)|\n");
}

Test(margo_compose, merged_image_is_interpolated_from_dotenv)
{
	cr_assert_eq(images(airflow, "AIRFLOW_IMAGE_NAME=registry.example.com/"
				     "airflow/airflow:2.10.3-python3.12\n"),
		     0, "%s", err.msg);
	cr_assert_str_eq(
	    listing(),
	    "docker.io/library/postgres:13|compose.yaml: "
	    "services.postgres.image|\n"
	    "docker.io/library/redis:7.2-bookworm|compose.yaml: "
	    "services.redis.image|\n"
	    "registry.example.com/airflow/airflow:2.10.3-python3.12|compose."
	    "yaml: services.airflow-webserver.image|\n"
	    "registry.example.com/tools/flower:2.0|compose.yaml: "
	    "services.flower.image (profiles: flower)|\n");
}

Test(margo_compose, a_list_of_merges_earlier_wins_own_image_wins)
{
	cr_assert_eq(images("x-a: &a {image: x/a:1}\n"
			    "x-b: &b {image: x/b:1, build: .}\n"
			    "x-c: &c {command: run}\n"
			    "services:\n"
			    "  one: {<<: [*a, *b]}\n"
			    "  two: {<<: [*b, *a]}\n"
			    "  three: {<<: [*c, *a], image: x/own:3}\n"
			    "  four: {<<: *c}\n",
			    NULL),
		     0, "%s", err.msg);
	cr_assert_str_eq(listing(),
			 "docker.io/x/a:1|compose.yaml: services.one.image|\n"
			 "docker.io/x/b:1|compose.yaml: services.two.image|\n"
			 "docker.io/x/own:3|compose.yaml: "
			 "services.three.image|\n"
			 "|compose.yaml: services.four.image|the service "
			 "names no image\n");
}

Test(margo_compose, a_bad_merge_refuses_the_file_with_position)
{
	cr_assert_eq(images("services:\n"
			    "  a:\n"
			    "    <<: web\n"
			    "    image: x/a:1\n",
			    NULL),
		     ERR_INVALID);
	cr_assert_str_eq(err.msg, "compose.yaml:3:9: YAML: the merge key << "
				  "needs a map or a list of maps, found a "
				  "string");
	cr_assert_eq(imgs.n, 0);
}

Test(margo_compose, extends_within_the_file)
{
	cr_assert_eq(images("services:\n"
			    "  base:\n"
			    "    image: registry.example.com/acme/base:${TAG:-1}\n"
			    "  web:\n"
			    "    extends:\n"
			    "      service: base\n"
			    "    command: web\n"
			    "  short:\n"
			    "    extends: web\n"
			    "  own:\n"
			    "    extends: base\n"
			    "    image: registry.example.com/acme/own:2\n"
			    "  builder:\n"
			    "    build: .\n"
			    "  built:\n"
			    "    extends: {service: builder}\n"
			    "  chain:\n"
			    "    extends: {service: own}\n",
			    "TAG=5\n"),
		     0, "%s", err.msg);
	/* web and short run base's image: one reference, listed once */
	cr_assert_str_eq(
	    listing(),
	    "registry.example.com/acme/base:5|compose.yaml: "
	    "services.base.image|\n"
	    "registry.example.com/acme/own:2|compose.yaml: "
	    "services.own.image|\n"
	    "|compose.yaml: services.builder.image|the service builds its "
	    "image (build:) instead of naming one; nothing to mirror\n"
	    "|compose.yaml: services.built.image|the service builds its "
	    "image (build:) instead of naming one; nothing to mirror\n");
}

Test(margo_compose, extends_names_where_the_image_comes_from)
{
	cr_assert_eq(images("services:\n"
			    "  app:\n"
			    "    extends: {service: common}\n"
			    "  common:\n"
			    "    image: x/common:1\n"
			    "    profiles: [never]\n",
			    NULL),
		     0, "%s", err.msg);
	cr_assert_str_eq(listing(),
			 "docker.io/x/common:1|compose.yaml: services.app."
			 "image (from services.common by extends) (profiles: "
			 "never)|\n");
}

Test(margo_compose, extends_another_file_or_nothing_is_unresolved)
{
	cr_assert_eq(images("services:\n"
			    "  far:\n"
			    "    extends: {service: web, file: common.yaml}\n"
			    "  far-own:\n"
			    "    extends: {service: web, file: common.yaml}\n"
			    "    image: x/own:1\n"
			    "  missing:\n"
			    "    extends: nowhere\n"
			    "  empty:\n"
			    "    extends: {file: common.yaml}\n"
			    "  listed:\n"
			    "    extends: [a]\n",
			    NULL),
		     0, "%s", err.msg);
	cr_assert_str_eq(
	    listing(),
	    "|compose.yaml: services.far.image|extends service \"web\" of "
	    "common.yaml: another file is not read\n"
	    "docker.io/x/own:1|compose.yaml: services.far-own.image|\n"
	    "|compose.yaml: services.missing.image|extends service "
	    "\"nowhere\", which is not in this file\n"
	    "|compose.yaml: services.empty.image|services.empty.extends "
	    "names no service\n"
	    "|compose.yaml: services.listed.image|services.listed.extends "
	    "names no service\n");
}

Test(margo_compose, extends_cycles_are_refused)
{
	static const struct {
		const char *yaml, *msg;
	} bad[] = {
	    {"services:\n  a: {extends: a, image: x/a:1}\n",
	     "compose.yaml: services.a.extends: services.a is reached twice "
	     "(a cycle); refused"},
	    {"services:\n  a: {extends: b}\n  b: {extends: {service: a}}\n",
	     "compose.yaml: services.a.extends: services.a is reached twice "
	     "(a cycle); refused"},
	    {"services:\n  ok: {image: x/ok:1}\n  a: {extends: b}\n"
	     "  b: {extends: c, image: x/b:1}\n  c: {extends: b}\n",
	     "compose.yaml: services.a.extends: services.b is reached twice "
	     "(a cycle); refused"},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		margo_images_release(&imgs);
		err_clear(&err);
		cr_assert_eq(images(bad[i].yaml, NULL), ERR_INVALID, "%s",
			     bad[i].yaml);
		cr_expect_str_eq(err.msg, bad[i].msg);
	}
}

Test(margo_compose, long_extends_chains_stop)
{
	char yaml[8192];
	size_t o = 0;

	o += (size_t)snprintf(yaml, sizeof(yaml),
			      "services:\n  s0: {image: x/deep:1}\n");
	for (int i = 1; i <= 64; i++)
		o += (size_t)snprintf(yaml + o, sizeof(yaml) - o,
				      "  s%d: {extends: s%d}\n", i, i - 1);
	cr_assert_eq(images(yaml, NULL), 0, "%s", err.msg);
	cr_assert_str_eq(listing(),
			 "docker.io/x/deep:1|compose.yaml: services.s0.image|\n"
			 "|compose.yaml: services.s64.image|extends chain "
			 "longer than 64 services\n");
}

Test(margo_compose, profiles_are_named_and_still_mirrored)
{
	cr_assert_eq(images("services:\n"
			    "  web: {image: x/web:1}\n"
			    "  debug:\n"
			    "    image: x/debug:1\n"
			    "    profiles: [debug, test]\n"
			    "  one: {image: x/one:1, profiles: [ops]}\n"
			    "  inherits:\n"
			    "    extends: one\n"
			    "    image: x/inherits:1\n"
			    "    profiles: [test, ops]\n"
			    "  bare: {extends: debug, image: x/bare:1}\n"
			    "  unset: {profiles: [debug]}\n",
			    NULL),
		     0, "%s", err.msg);
	cr_assert_str_eq(
	    listing(),
	    "docker.io/x/web:1|compose.yaml: services.web.image|\n"
	    "docker.io/x/debug:1|compose.yaml: services.debug.image "
	    "(profiles: debug, test)|\n"
	    "docker.io/x/one:1|compose.yaml: services.one.image (profiles: "
	    "ops)|\n"
	    "docker.io/x/inherits:1|compose.yaml: services.inherits.image "
	    "(profiles: test, ops)|\n"
	    "docker.io/x/bare:1|compose.yaml: services.bare.image (profiles: "
	    "debug, test)|\n"
	    "|compose.yaml: services.unset.image (profiles: debug)|the "
	    "service names no image\n");
}

/* ---- many services ---------------------------------------------------- */

static char *svc_buf;
static size_t svc_len, svc_cap;

static void put(const char *fmt, ...)
{
	va_list ap;

	if (svc_cap - svc_len < 256) {
		svc_cap = svc_cap ? svc_cap * 2 : 65536;
		svc_buf = realloc(svc_buf, svc_cap);
		cr_assert_not_null(svc_buf);
	}
	va_start(ap, fmt);
	svc_len += (size_t)vsnprintf(svc_buf + svc_len, svc_cap - svc_len,
				     fmt, ap);
	va_end(ap);
}

static void svc_fini(void)
{
	free(svc_buf);
	svc_buf = NULL;
	svc_len = svc_cap = 0;
	fini();
}

static int svc_images(void)
{
	return margo_compose_file_images(&imgs, svc_buf, svc_len,
					 "compose.yaml", NULL, &err);
}

/* 60,000 names that all fell in one slot chain of the old index (FNV-1a,
 * low bits; minutes of CPU): refused by count before any is indexed. */
Test(margo_compose, colliding_service_names_are_capped, .fini = svc_fini,
     .timeout = 10)
{
	enum { N = 60000 };
	char *names = malloc((size_t)N * FNVC_NAME_MAX);

	cr_assert_not_null(names);
	fnvc_names(names, N, "s");
	put("services:\n");
	for (size_t i = 0; i < N; i++)
		put("  %s: {}\n", names + i * FNVC_NAME_MAX);
	free(names);
	cr_assert_eq(svc_images(), ERR_TOO_LARGE);
	cr_assert_str_eq(err.msg,
			 "compose.yaml: more than 10000 services (a cap); "
			 "refused");
	cr_assert_eq(imgs.n, 0);
}

/* Colliding names under the cap: every extends finds its base, a name
 * written twice is the first, a colliding name not in the file is not. */
Test(margo_compose, colliding_service_names_are_found, .fini = svc_fini,
     .timeout = 10)
{
	enum { N = 901, GROUP = 50 };
	char *names = malloc((size_t)N * FNVC_NAME_MAX), want[4096], *w = want;
	const char *nm = names;

	cr_assert_not_null(names);
	fnvc_names(names, N, "s");
	put("services:\n");
	for (size_t i = 0; i < N - 1; i++)
		if (i % GROUP)
			put("  %s: {extends: %s}\n", nm + i * FNVC_NAME_MAX,
			    nm + (i - i % GROUP) * FNVC_NAME_MAX);
		else
			put("  %s: {image: reg.example/g%zu:1}\n",
			    nm + i * FNVC_NAME_MAX, i / GROUP);
	put("  %s: {image: reg.example/second:1}\n", nm); /* a duplicate */
	put("  lost: {extends: %s}\n", nm + (N - 1) * FNVC_NAME_MAX);
	cr_assert_eq(svc_images(), 0, "%s", err.msg);
	for (size_t g = 0; g * GROUP < N - 1; g++)
		w += sprintf(w,
			     "reg.example/g%zu:1|compose.yaml: "
			     "services.%s.image|\n",
			     g, nm + g * GROUP * FNVC_NAME_MAX);
	w += sprintf(w, "reg.example/second:1|compose.yaml: services.%s.image|\n",
		     nm);
	sprintf(w,
		"|compose.yaml: services.lost.image|extends service \"%s\", "
		"which is not in this file\n",
		nm + (N - 1) * FNVC_NAME_MAX);
	cr_assert_str_eq(listing(), want);
	free(names);
}

/* 240 services each merging a 20,000-key map, in chains of 60: each
 * service's map is read once (the chain walks were 2 s of CPU), and each
 * chain's head gets the image and profiles of the whole chain. */
Test(margo_compose, extends_chains_through_big_merged_maps, .fini = svc_fini,
     .timeout = 10)
{
	put("x-big: &big\n");
	for (int i = 0; i < 20000; i++)
		put("  k%d: v\n", i);
	put("services:\n");
	for (int c = 0; c < 4; c++)
		for (int d = 0; d < 60; d++) {
			put("  c%d_%d:\n    <<: *big\n", c, d);
			if (d == 0)
				put("    profiles: [p%d]\n", c);
			if (d == 30)
				put("    profiles: [mid, p%d]\n", c);
			if (d < 59)
				put("    extends: c%d_%d\n", c, d + 1);
			else
				put("    image: reg.example/app%d:1\n", c);
		}
	cr_assert_eq(svc_images(), 0, "%s", err.msg);
	cr_assert_str_eq(
	    listing(),
	    "reg.example/app0:1|compose.yaml: services.c0_0.image (from "
	    "services.c0_59 by extends) (profiles: p0, mid)|\n"
	    "reg.example/app1:1|compose.yaml: services.c1_0.image (from "
	    "services.c1_59 by extends) (profiles: p1, mid)|\n"
	    "reg.example/app2:1|compose.yaml: services.c2_0.image (from "
	    "services.c2_59 by extends) (profiles: p2, mid)|\n"
	    "reg.example/app3:1|compose.yaml: services.c3_0.image (from "
	    "services.c3_59 by extends) (profiles: p3, mid)|\n");
}
