/* Private to mirror/margo/chart.c and compose.c: the caps their YAML
 * (values.yaml, Chart.yaml, compose.yaml) is read under by the one reader,
 * oci/yaml.h. Nothing outside mirror/margo includes this. */
#ifndef MIRROR_MARGO_YAMLUTIL_H
#define MIRROR_MARGO_YAMLUTIL_H

#include "mirror/margo/images.h"
#include "oci/yaml.h"

#define YAML_NODES_MAX 200000 /* per document */

#define MARGO_YAML_LIMITS                                                      \
	{                                                                      \
		MARGO_YAML_MAX, OCI_YAML_DEPTH_MAX, YAML_NODES_MAX,            \
		    OCI_YAML_EXPAND_MAX, OCI_YAML_ANCHORS_MAX                  \
	}

#endif
