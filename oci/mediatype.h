/* Media types the project knows by name. */
#ifndef OCI_MEDIATYPE_H
#define OCI_MEDIATYPE_H

#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_OCI_EMPTY "application/vnd.oci.empty.v1+json"
#define MT_OCI_LAYER_TGZ "application/vnd.oci.image.layer.v1.tar+gzip"
#define MT_DOCKER_MANIFEST                                                     \
	"application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_LIST                                                         \
	"application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define MT_DOCKER_SCHEMA1 "application/vnd.docker.distribution.manifest.v1+json"
#define MT_DOCKER_SCHEMA1_SIGNED                                               \
	"application/vnd.docker.distribution.manifest.v1+prettyjws"

#define OCI_EMPTY_DIGEST                                                       \
	"sha256:"                                                              \
	"44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"

/* The Accept header value listing every manifest type we can store. */
#define MT_ACCEPT_ALL                                                          \
	MT_OCI_INDEX ", " MT_OCI_MANIFEST ", " MT_DOCKER_LIST                  \
		     ", " MT_DOCKER_MANIFEST

/* Annotation keys */
#define ANN_REF_NAME "org.opencontainers.image.ref.name"
#define ANN_TITLE "org.opencontainers.image.title"

#endif
