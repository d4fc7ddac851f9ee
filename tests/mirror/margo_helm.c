/* Helm image conventions: the shapes public charts write their images in
 * values.yaml, each as those charts write it (the values here are written
 * for these tests, shaped like the charts named). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mirror/margo/chart.h"
#include "tests/mirror/imagesfix.h"

#define ARCHIVES TESTDATA "/margo/archives"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D3 "sha256:3333333333333333333333333333333333333333333333333333333333333333"
#define HEX "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

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

TestSuite(margo_helm, .init = init, .fini = fini);

/* "ref|where|problem" per image, one per line */
static const char *listing(void)
{
	return fix_images_listing(&imgs);
}

/* The images of one values.yaml, listed. */
static const char *values(const char *yaml, const char *app_version,
			  const char *parent_global)
{
	margo_images_release(&imgs);
	cr_assert_eq(margo_values_images(&imgs, yaml, strlen(yaml),
					 "values.yaml", app_version,
					 parent_global, &err),
		     0, "%s", err.msg);
	return listing();
}

Test(margo_helm, string_reference)
{
	/* a whole reference; the elastic charts' image + imageTag */
	const char *v = "image: \"nginx:1.25.3\"\n"
			"sidecar:\n  image: quay.io/org/agent:2.0@" D1 "\n"
			"elastic:\n"
			"  image: \"docker.elastic.co/elasticsearch/"
			"elasticsearch\"\n"
			"  imageTag: \"8.5.1\"\n"
			"  imagePullPolicy: IfNotPresent\n"
			"pinned:\n  image: localhost:5000/tools/jq:1.7\n"
			"  imageTag: ignored\n";

	cr_assert_str_eq(
	    values(v, "9.9", NULL),
	    "docker.io/library/nginx:1.25.3|values.yaml: image|\n"
	    "quay.io/org/agent:2.0@" D1 "|values.yaml: sidecar.image|\n"
	    "docker.elastic.co/elasticsearch/elasticsearch:8.5.1|values.yaml: "
	    "elastic.image|\n"
	    "localhost:5000/tools/jq:1.7|values.yaml: pinned.image|\n");
}

Test(margo_helm, repository_tag_grafana_and_prometheus)
{
	/* grafana: registry + repository, tag "" (appVersion), sha "" or
	 * hex (the template puts "@sha256:" before it); prometheus-community:
	 * a full repository with tag and digest empty; the plain
	 * {repository, tag, pullPolicy} of `helm create` */
	const char *v = "global:\n  imageRegistry: null\n"
			"image:\n  registry: docker.io\n"
			"  repository: grafana/grafana\n"
			"  tag: \"\"\n  sha: \"\"\n  pullPolicy: IfNotPresent\n"
			"initChownData:\n  enabled: true\n  image:\n"
			"    registry: docker.io\n"
			"    repository: library/busybox\n"
			"    tag: \"1.31.1\"\n    sha: \"\"\n"
			"downloadDashboardsImage:\n  registry: docker.io\n"
			"  repository: curlimages/curl\n  tag: 7.85.0\n"
			"  sha: \"" HEX "\"\n"
			"server:\n  image:\n"
			"    repository: quay.io/prometheus/prometheus\n"
			"    tag: \"\"\n    digest: \"\"\n"
			"    pullPolicy: IfNotPresent\n"
			"app:\n  image:\n    repository: ghcr.io/digitron/app\n"
			"    pullPolicy: IfNotPresent\n    tag: \"3.1\"\n";

	cr_assert_str_eq(
	    values(v, "12.0.1", NULL),
	    "docker.io/grafana/grafana:12.0.1|values.yaml: image|\n"
	    "docker.io/library/busybox:1.31.1|values.yaml: "
	    "initChownData.image|\n"
	    "docker.io/curlimages/curl:7.85.0@sha256:" HEX "|values.yaml: "
	    "downloadDashboardsImage|\n"
	    "quay.io/prometheus/prometheus:12.0.1|values.yaml: "
	    "server.image|\n"
	    "ghcr.io/digitron/app:3.1|values.yaml: app.image|\n");
}

/* bitnami/nginx's shape, global.imageRegistry as given */
static const char *bitnami(const char *global)
{
	static char v[1024];

	snprintf(v, sizeof(v),
		 "global:\n  imageRegistry: %s\n  imagePullSecrets: []\n"
		 "image:\n  registry: docker.io\n  repository: bitnami/nginx\n"
		 "  tag: 1.25.3-debian-11-r0\n  digest: \"\"\n"
		 "  pullPolicy: IfNotPresent\n"
		 "metrics:\n  image:\n    registry: docker.io\n"
		 "    repository: bitnami/nginx-exporter\n"
		 "    tag: 0.11.0-debian-11-r3\n    digest: \"\"\n",
		 global);
	return v;
}

Test(margo_helm, bitnami_registry_and_global_image_registry)
{
	cr_assert_str_eq(values(bitnami("\"\""), "1.25.3", NULL),
			 "docker.io/bitnami/nginx:1.25.3-debian-11-r0|"
			 "values.yaml: image|\n"
			 "docker.io/bitnami/nginx-exporter:0.11.0-debian-11-"
			 "r3|values.yaml: metrics.image|\n");
	cr_assert_str_eq(values(bitnami("null"), "1.25.3", NULL),
			 "docker.io/bitnami/nginx:1.25.3-debian-11-r0|"
			 "values.yaml: image|\n"
			 "docker.io/bitnami/nginx-exporter:0.11.0-debian-11-"
			 "r3|values.yaml: metrics.image|\n");
	/* global.imageRegistry replaces each image's own registry, as
	 * common.images.image does */
	cr_assert_str_eq(values(bitnami("m.lan"), NULL, NULL),
			 "m.lan/bitnami/nginx:1.25.3-debian-11-r0|values.yaml: "
			 "image|\n"
			 "m.lan/bitnami/nginx-exporter:0.11.0-debian-11-r3|"
			 "values.yaml: metrics.image|\n");
	/* a parent chart's global wins over the chart's own */
	cr_assert_str_eq(values(bitnami("m.lan"), NULL, "parent.example:5000"),
			 "parent.example:5000/bitnami/nginx:1.25.3-debian-11-"
			 "r0|values.yaml: image|\n"
			 "parent.example:5000/bitnami/nginx-exporter:0.11.0-"
			 "debian-11-r3|values.yaml: metrics.image|\n");
}

Test(margo_helm, ingress_nginx_split_name)
{
	/* ingress-nginx: the registry in global.image, each image map
	 * {image, tag, digest} merged over it; global.image itself is no
	 * image, unless it names one (argo-cd's: the image every component
	 * runs, their own slots left empty) */
	const char *v =
	    "global:\n  image:\n    registry: registry.k8s.io\n"
	    "controller:\n  name: controller\n  image:\n    chroot: false\n"
	    "    image: ingress-nginx/controller\n    tag: \"v1.15.1\"\n"
	    "    digest: " D1 "\n"
	    "    digestChroot: " D3 "\n"
	    "    pullPolicy: IfNotPresent\n    runAsUser: 101\n"
	    "  admissionWebhooks:\n    patch:\n      image:\n"
	    "        image: ingress-nginx/kube-webhook-certgen\n"
	    "        tag: v1.6.9\n        digest: " D3 "\n"
	    "defaultBackend:\n  enabled: false\n  image:\n"
	    "    image: defaultbackend-amd64\n    tag: \"1.5\"\n";
	const char *argo = "global:\n  image:\n"
			"    repository: quay.io/argoproj/argocd\n"
			"    tag: \"\"\n    imagePullPolicy: IfNotPresent\n"
			"controller:\n  image:\n    repository: \"\"\n"
			"    tag: \"\"\n";

	cr_assert_str_eq(values(v, "1.15.1", NULL),
			 "registry.k8s.io/ingress-nginx/controller:v1.15.1@" D1
			 "|values.yaml: controller.image|\n"
			 "registry.k8s.io/ingress-nginx/kube-webhook-certgen:"
			 "v1.6.9@" D3 "|values.yaml: "
			 "controller.admissionWebhooks.patch.image|\n"
			 "registry.k8s.io/defaultbackend-amd64:1.5|values.yaml: "
			 "defaultBackend.image|\n");
	cr_assert_str_eq(values(argo, "v3.0.6", NULL),
			 "quay.io/argoproj/argocd:v3.0.6|values.yaml: "
			 "global.image|\n");
}

Test(margo_helm, ingress_nginx_own_registry_repository_and_chroot)
{
	/* the 4.0 charts: the registry in the image map itself; a map's
	 * own registry stays under global.image.registry (the template
	 * merges the map over global.image); a non-empty repository is the
	 * whole name; chroot: true runs IMAGE-chroot at digestChroot */
	const char *v =
	    "global:\n  image:\n    registry: registry.k8s.io\n"
	    "controller:\n  image:\n    registry: k8s.gcr.io\n"
	    "    image: ingress-nginx/controller\n    tag: \"v0.48.1\"\n"
	    "    digest: " D1 "\n"
	    "mirrored:\n  image:\n"
	    "    image: ingress-nginx/controller\n"
	    "    repository: mirror.lan/ingress/controller\n"
	    "    tag: \"v1.15.1\"\n"
	    "chrooted:\n  image:\n    chroot: true\n"
	    "    image: ingress-nginx/controller\n    tag: \"v1.15.1\"\n"
	    "    digest: " D1 "\n    digestChroot: " D3 "\n";

	cr_assert_str_eq(
	    values(v, NULL, NULL),
	    "k8s.gcr.io/ingress-nginx/controller:v0.48.1@" D1
	    "|values.yaml: controller.image|\n"
	    "mirror.lan/ingress/controller:v1.15.1|values.yaml: "
	    "mirrored.image|\n"
	    "registry.k8s.io/ingress-nginx/controller-chroot:v1.15.1@" D3
	    "|values.yaml: chrooted.image|\n");
}

Test(margo_helm, chroot_with_repository_and_image_without_registry)
{
	/* ingress-nginx renders REPOSITORY (no -chroot) at digestChroot
	 * when chroot is true; {image} with no registry anywhere would
	 * render "/IMAGE:TAG": unresolved, not docker.io */
	const char *v =
	    "controller:\n  image:\n    chroot: true\n"
	    "    image: ingress-nginx/controller\n"
	    "    repository: mirror.lan/ingress/controller\n"
	    "    tag: \"v1.15.1\"\n"
	    "    digest: " D1 "\n    digestChroot: " D3 "\n"
	    "backend:\n  image:\n    image: defaultbackend-amd64\n"
	    "    tag: \"1.5\"\n"
	    "emptyreg:\n  image: {registry: \"\", image: x/y, tag: \"1\"}\n"
	    "named:\n  image: {name: redis, tag: \"7.2\"}\n";

	cr_assert_str_eq(
	    values(v, NULL, NULL),
	    "mirror.lan/ingress/controller:v1.15.1@" D3
	    "|values.yaml: controller.image|\n"
	    "|values.yaml: backend.image|its image defaultbackend-amd64 "
	    "names no registry, and there is no global.image.registry\n"
	    "|values.yaml: emptyreg.image|its image x/y names no registry, "
	    "and there is no global.image.registry\n"
	    "docker.io/library/redis:7.2|values.yaml: named.image|\n");
	/* global.image.registry is for {image}, not {name} */
	cr_assert_str_eq(
	    values("global:\n  image:\n    registry: registry.k8s.io\n"
		   "backend:\n  image: {image: defaultbackend-amd64, tag: "
		   "\"1.5\"}\n"
		   "named:\n  image: {name: redis, tag: \"7.2\"}\n",
		   NULL, NULL),
	    "registry.k8s.io/defaultbackend-amd64:1.5|values.yaml: "
	    "backend.image|\n"
	    "docker.io/library/redis:7.2|values.yaml: named.image|\n");
}

Test(margo_helm, name_and_tag)
{
	/* {name, tag}: its own registry, else the name is the whole
	 * reference; global.image.registry is ingress-nginx's, for {image}
	 * maps only */
	const char *v = "global:\n  image:\n    registry: hub.bk.example\n"
			"image:\n  name: blueking/bk-user-api\n  tag: v2.5.4\n"
			"worker:\n  image:\n    registry: ghcr.io\n"
			"    name: digitron/worker\n    tag: \"\"\n";
	const char *bare = "image: {name: redis, tag: \"7.2\"}\n";

	cr_assert_str_eq(values(v, "2.5.4", NULL),
			 "docker.io/blueking/bk-user-api:v2.5.4|"
			 "values.yaml: image|\n"
			 "ghcr.io/digitron/worker:2.5.4|values.yaml: "
			 "worker.image|\n");
	cr_assert_str_eq(values(bare, NULL, NULL),
			 "docker.io/library/redis:7.2|values.yaml: image|\n");
}

Test(margo_helm, digest_only_and_tag_with_digest)
{
	/* a digest and no tag: by digest alone (not appVersion); both:
	 * both kept */
	const char *v = "a:\n  image:\n    registry: quay.io\n"
			"    repository: org/a\n    digest: " D1 "\n"
			"b:\n  image:\n    repository: org/b\n"
			"    tag: \"\"\n    digest: " D1 "\n"
			"c:\n  image:\n    registry: quay.io\n"
			"    repository: org/c\n    tag: \"1.4\"\n"
			"    digest: " D3 "\n"
			"d:\n  image:\n    repository: quay.io/org/d\n"
			"    tag: \"1.5@" D1 "\"\n"
			"e:\n  image:\n    registry: registry.k8s.io\n"
			"    image: org/e\n    digest: " D3 "\n"
			"f:\n  image:\n    name: org/f\n    tag: \"2\"\n"
			"    digest: " D1 "\n";

	cr_assert_str_eq(values(v, "9.9", NULL),
			 "quay.io/org/a@" D1 "|values.yaml: a.image|\n"
			 "docker.io/org/b@" D1 "|values.yaml: b.image|\n"
			 "quay.io/org/c:1.4@" D3 "|values.yaml: c.image|\n"
			 "quay.io/org/d:1.5@" D1 "|values.yaml: d.image|\n"
			 "registry.k8s.io/org/e@" D3 "|values.yaml: e.image|\n"
			 "docker.io/org/f:2@" D1 "|values.yaml: f.image|\n");
}

Test(margo_helm, empty_or_missing_tag_is_app_version)
{
	const char *v = "a: {image: {repository: org/a, tag: \"\"}}\n"
			"b: {image: {repository: org/b}}\n"
			"c: {image: {repository: org/c, tag: ~}}\n"
			"d: {image: {image: org/d, tag: null}}\n"
			"e: {image: {name: org/e}}\n"
			"f: {image: {repository: org/f, tag: 0.9}}\n";

	cr_assert_str_eq(values(v, "4.2.0", NULL),
			 "docker.io/org/a:4.2.0|values.yaml: a.image|\n"
			 "docker.io/org/b:4.2.0|values.yaml: b.image|\n"
			 "docker.io/org/c:4.2.0|values.yaml: c.image|\n"
			 "|values.yaml: d.image|its image org/d names no "
			 "registry, and there is no global.image.registry\n"
			 "docker.io/org/e:4.2.0|values.yaml: e.image|\n"
			 "docker.io/org/f:0.9|values.yaml: f.image|\n");
	cr_assert_str_eq(
	    values("image: {repository: org/a, tag: \"\"}\n", NULL, NULL),
	    "|values.yaml: image|no tag or digest, and the chart has no "
	    "appVersion\n");
}

Test(margo_helm, registry_and_repository_joined)
{
	/* one '/' between them whatever each carries; docker.io names
	 * normalised as everywhere (library/ for one component) */
	const char *v = "a: {image: {registry: \"registry.k8s.io/\", "
			"repository: \"/pause\", tag: \"3.9\"}}\n"
			"b: {image: {registry: docker.io, repository: nginx, "
			"tag: \"1.25\"}}\n"
			"c: {image: {registry: \"\", repository: nginx, tag: "
			"\"1.25\"}}\n"
			"d: {image: {registry: index.docker.io, repository: "
			"bitnami/redis, tag: \"7\"}}\n"
			"e: {image: {registry: artifactory.lan/docker-remote, "
			"repository: bitnami/redis, tag: \"7\"}}\n"
			"f: {image: {registry: \"localhost:5000//\", image: "
			"\"//x/y\", tag: \"1\"}}\n";

	cr_assert_str_eq(
	    values(v, NULL, NULL),
	    "registry.k8s.io/pause:3.9|values.yaml: a.image|\n"
	    "docker.io/library/nginx:1.25|values.yaml: b.image|\n"
	    "docker.io/bitnami/redis:7|values.yaml: d.image|\n"
	    "artifactory.lan/docker-remote/bitnami/redis:7|values.yaml: "
	    "e.image|\n"
	    "localhost:5000/x/y:1|values.yaml: f.image|\n");
}

Test(margo_helm, unreadable_maps_are_unresolved_with_their_path)
{
	const char *v =
	    "controller:\n  image: {foo: bar}\n"
	    "templated:\n  image: \"{{ .Values.x }}\"\n"
	    "tagmap:\n  image: {repository: org/a, tag: {major: 1}}\n"
	    "replist:\n  image: {repository: [org/a], tag: \"1\"}\n"
	    "regmap:\n  image: {registry: {host: x}, image: org/a, tag: "
	    "\"1\"}\n"
	    "tagtpl:\n  image: {repository: org/a, tag: \"{{ "
	    ".Chart.AppVersion }}\"}\n"
	    "policy:\n  image: {pullPolicy: Always}\n"
	    "elastic:\n  image: org/es\n  imageTag: \"{{ .Values.v }}\"\n"
	    /* an empty slot and a map of image maps: nothing to say */
	    "slot:\n  image: {repository: \"\", tag: \"\"}\n"
	    "none:\n  image: {}\n"
	    "nested:\n  image:\n    mainImage: {repository: org/m, tag: "
	    "\"2\"}\n";

	cr_assert_str_eq(
	    values(v, "1.0", NULL),
	    "|values.yaml: controller.image|a map with no repository, image "
	    "or name\n"
	    "|values.yaml: templated.image|a template expression; it needs "
	    "the chart rendered to resolve\n"
	    "|values.yaml: tagmap.image|its tag is a map, not a string\n"
	    "|values.yaml: replist.image|its repository is a list, not a "
	    "string\n"
	    "|values.yaml: regmap.image|its registry is a map, not a string\n"
	    "|values.yaml: tagtpl.image|a template expression; it needs the "
	    "chart rendered to resolve\n"
	    "|values.yaml: policy.image|a map with no repository, image or "
	    "name\n"
	    "|values.yaml: elastic.image|a template expression; it needs the "
	    "chart rendered to resolve\n"
	    "docker.io/org/m:2|values.yaml: nested.image.mainImage|\n");
}

/* Passes once oci_yaml_load resolves "<<" (branch h-yaml): chart.c reads
 * the merged mapping like any other. */
Test(margo_helm, merge_keys)
{
	const char *v = "defaults: &img\n  registry: registry.example.com\n"
			"  repository: bitnami/redis\n"
			"  pullPolicy: IfNotPresent\n"
			"primary:\n  image:\n    <<: *img\n    tag: \"1.2\"\n"
			"replica:\n  image: {<<: *img, tag: \"1.3\", "
			"repository: bitnami/redis-replica}\n";

	cr_assert_str_eq(values(v, NULL, NULL),
			 "registry.example.com/bitnami/redis:1.2|values.yaml: "
			 "primary.image|\n"
			 "registry.example.com/bitnami/redis-replica:1.3|"
			 "values.yaml: "
			 "replica.image|\n");
}

static char *slurp(const char *name, size_t *len)
{
	char path[512];
	FILE *f;
	long n;
	char *data;

	snprintf(path, sizeof(path), "%s/%s", ARCHIVES, name);
	f = fopen(path, "rb");
	cr_assert_not_null(f, "open %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	data = malloc((size_t)n + 1);
	cr_assert_eq(fread(data, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return data;
}

Test(margo_helm, umbrella_globals_reach_packed_and_unpacked_subcharts)
{
	/* testdata/margo/helm-conventions: the umbrella's
	 * global.image.registry wins over the ingress subchart's own; its
	 * values under the alias override the controller's tag and digest
	 * and the cache's tag; the umbrella's own grafana-style image
	 * takes appVersion; no global.image is read as an image */
	size_t n;
	char *data = slurp("edge-gateway-2.3.0.tgz", &n);

	cr_assert_eq(margo_chart_images(&imgs, data, n, &err), 0, "%s",
		     err.msg);
	free(data);
	cr_assert_str_eq(
	    listing(),
	    "registry.example.com/digitron/edge-gateway:2.3.0|edge-gateway/"
	    "values.yaml: image|\n"
	    "mirror.plant.example:5000/ingress-nginx/controller:v1.15.2|"
	    "edge-gateway/charts/ingress-4.15.1.tgz!ingress/values.yaml: "
	    "controller.image|\n"
	    "mirror.plant.example:5000/ingress-nginx/kube-webhook-certgen:"
	    "v1.6.9@" D3 "|edge-gateway/charts/ingress-4.15.1.tgz!ingress/"
	    "values.yaml: controller.admissionWebhooks.patch.image|\n"
	    "mirror.plant.example:5000/defaultbackend-amd64:1.5|edge-gateway/"
	    "charts/ingress-4.15.1.tgz!ingress/values.yaml: "
	    "defaultBackend.image|\n"
	    "docker.io/bitnami/redis:7.2.5-debian-12-r4|edge-gateway/charts/"
	    "cache/values.yaml: image|\n"
	    "docker.io/bitnami/redis-exporter:1.58.0-debian-12-r4|"
	    "edge-gateway/charts/cache/values.yaml: metrics.image|\n"
	    "docker.io/bitnami/os-shell@sha256:"
	    "5d8b7b1c4e2a6f9d0c3b8a7e6f5d4c3b2a1908f7e6d5c4b3a29180f7e6d5c4b3|"
	    "edge-gateway/charts/cache/values.yaml: volumePermissions.image|"
	    "\n");
}
