#include <criterion/criterion.h>

#include "oci/mediatype.h"

Test(oci_mediatype, kinds_ignore_parameters_blanks_and_case)
{
	cr_expect_eq(oci_mediatype_kind(MT_OCI_MANIFEST), OCI_KIND_MANIFEST);
	cr_expect_eq(oci_mediatype_kind(" " MT_DOCKER_LIST "; charset=utf-8"),
		     OCI_KIND_INDEX);
	cr_expect_eq(oci_mediatype_kind("APPLICATION/VND.OCI.IMAGE.INDEX.V1+"
					"JSON"),
		     OCI_KIND_INDEX);
	cr_expect_eq(oci_mediatype_kind(MT_OCI_CONFIG), 0);
	cr_expect_eq(oci_mediatype_kind(NULL), 0);
	cr_expect(oci_mediatype_is_manifest(MT_DOCKER_MANIFEST));
	cr_expect(!oci_mediatype_is_index(MT_DOCKER_MANIFEST));
	cr_expect(oci_mediatype_is_index(MT_OCI_INDEX));
}

Test(oci_mediatype, schema1_is_recognised_to_be_refused)
{
	cr_expect(oci_mediatype_is_schema1(MT_DOCKER_SCHEMA1));
	cr_expect(oci_mediatype_is_schema1(MT_DOCKER_SCHEMA1_SIGNED "; x=y"));
	cr_expect(!oci_mediatype_is_schema1(MT_DOCKER_MANIFEST));
	cr_expect(!oci_mediatype_is_schema1(NULL));
}

Test(oci_mediatype, canonical_spelling_of_storable_types)
{
	cr_expect_str_eq(
	    oci_mediatype_canonical("Application/Vnd.Oci.Image.Manifest.V1+Json"
				    " ; q=1"),
	    MT_OCI_MANIFEST);
	cr_expect_null(oci_mediatype_canonical(MT_HELM_CHART));
	cr_expect_null(oci_mediatype_canonical(NULL));
}

Test(oci_mediatype, non_distributable_layers)
{
	cr_assert(oci_mediatype_is_nondistributable(MT_OCI_LAYER_ND_TAR));
	cr_assert(oci_mediatype_is_nondistributable(
	    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"));
	cr_assert(oci_mediatype_is_nondistributable(
	    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"));
	cr_assert(oci_mediatype_is_nondistributable(
	    "Application/VND.docker.image.rootfs.foreign.diff.tar.gzip"));
	cr_assert(oci_mediatype_is_nondistributable(
	    " application/vnd.docker.image.rootfs.foreign.diff.tar; x=1"));
	cr_assert(!oci_mediatype_is_nondistributable(MT_OCI_LAYER_TGZ));
	cr_assert(!oci_mediatype_is_nondistributable(
	    "application/vnd.example.nondistributable-notes"));
	cr_assert(!oci_mediatype_is_nondistributable(NULL));
}
