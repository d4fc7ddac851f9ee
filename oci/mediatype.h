/* Every media type the project knows by name (OCI, Docker, Helm, Margo):
 * the one home of these strings; other headers include this one rather
 * than define their own. */
#ifndef OCI_MEDIATYPE_H
#define OCI_MEDIATYPE_H

#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_OCI_EMPTY "application/vnd.oci.empty.v1+json"
#define MT_OCI_LAYER_TGZ "application/vnd.oci.image.layer.v1.tar+gzip"
/* Non-distributable ("foreign") layers: their content is fetched from
 * the descriptor's urls, and registries need not hold it (OCI image-spec
 * 1.1 deprecates them; Windows base images still use the Docker ones). */
#define MT_OCI_LAYER_ND_TAR                                                    \
	"application/vnd.oci.image.layer.nondistributable.v1.tar"
#define MT_OCI_LAYER_ND_TGZ                                                    \
	"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
#define MT_OCI_LAYER_ND_TZST                                                   \
	"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
#define MT_DOCKER_LAYER_FOREIGN_TGZ                                            \
	"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
#define MT_DOCKER_LAYER_FOREIGN_TAR                                            \
	"application/vnd.docker.image.rootfs.foreign.diff.tar"
#define MT_DOCKER_MANIFEST                                                     \
	"application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_LIST                                                         \
	"application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define MT_DOCKER_SCHEMA1 "application/vnd.docker.distribution.manifest.v1+json"
#define MT_DOCKER_SCHEMA1_SIGNED                                               \
	"application/vnd.docker.distribution.manifest.v1+prettyjws"

/* Helm charts as OCI artifacts */
#define MT_HELM_CONFIG "application/vnd.cncf.helm.config.v1+json"
#define MT_HELM_CHART "application/vnd.cncf.helm.chart.content.v1.tar+gzip"

/* Margo: application packages, their description and resources, and
 * Compose components */
#define MT_MARGO_APP "application/vnd.margo.app.v1+json"
#define MT_MARGO_DESC "application/vnd.margo.app.description.v1+yaml"
/* printf format: resource kind ("icon", "licenseFile", ...), then the
 * subtype of its file format ("png", "markdown", ...) */
#define MT_MARGO_RESOURCE_FMT "application/vnd.margo.app.%s.v1+%s"
#define MT_COMPOSE_ARTIFACT "application/vnd.org.margo.component.compose+json"
#define MT_COMPOSE_ARCHIVE                                                     \
	"application/vnd.org.margo.component.compose.tar+gzip"

#define OCI_EMPTY_DIGEST                                                       \
	"sha256:"                                                              \
	"44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"

/* The Accept header value listing every manifest type we can store. */
#define MT_ACCEPT_ALL                                                          \
	MT_OCI_INDEX ", " MT_OCI_MANIFEST ", " MT_DOCKER_LIST                  \
		     ", " MT_DOCKER_MANIFEST

enum oci_manifest_kind {
	OCI_KIND_MANIFEST = 1, /* OCI image manifest or Docker schema2 */
	OCI_KIND_INDEX = 2,    /* OCI index or Docker manifest list */
};

/* The checks below compare the type without parameters ("; charset=...")
 * or blanks, case-insensitively; mt may be NULL (then: no). */

/* Cheap kind check of a media type: OCI_KIND_INDEX, OCI_KIND_MANIFEST or 0. */
enum oci_manifest_kind oci_mediatype_kind(const char *mt);
/* 1 if mt names a manifest or index type we can store. */
int oci_mediatype_is_manifest(const char *mt);
int oci_mediatype_is_index(const char *mt);
/* 1 for Docker schema 1 (signed or not), which we refuse. */
int oci_mediatype_is_schema1(const char *mt);
/* 1 for a non-distributable layer type (the MT_*_ND_* and FOREIGN ones):
 * a blob that pull, push, export and verify leave alone when the store
 * does not hold it. */
int oci_mediatype_is_nondistributable(const char *mt);
/* The canonical spelling (one of the MT_ constants) of a manifest or
 * index type we can store, or NULL. */
const char *oci_mediatype_canonical(const char *mt);

/* Referrers' artifact types: signatures and SBOMs (the one table of
 * them is in mediatype.c). Sigstore bundles match by prefix (every
 * version: "...bundle.v0.3+json", "...bundle+json;version=0.1"). */
#define MT_COSIGN_SIG "application/vnd.dev.cosign.artifact.sig.v1+json"
#define MT_NOTARY_SIG "application/vnd.cncf.notary.signature"
#define MT_SIGSTORE_BUNDLE_PREFIX "application/vnd.dev.sigstore.bundle"
#define MT_SPDX_JSON "application/spdx+json"
#define MT_SPDX_TEXT "text/spdx"
#define MT_CYCLONEDX_JSON "application/vnd.cyclonedx+json"
#define MT_CYCLONEDX_XML "application/vnd.cyclonedx+xml"
#define MT_SYFT_JSON "application/vnd.syft+json"
/* 1 when artifact type at is a signature's / an SBOM's; at may be NULL. */
int oci_artifact_type_is_signature(const char *at);
int oci_artifact_type_is_sbom(const char *at);

/* Annotation keys */
#define ANN_REF_NAME "org.opencontainers.image.ref.name"
#define ANN_TITLE "org.opencontainers.image.title"

#endif
