/* The S3 backend (backend.h): placeholder until the backend lands; every
 * s3:// store is refused. */
#include "mirror/store/backend.h"

static int s3_open(void **be_out, const char *root, int create, struct err *err)
{
	(void)create;
	*be_out = NULL;
	return err_set(err, ERR_UNSUPPORTED, "store %s: S3 is not built in",
		       root);
}

const struct store_ops s3_store_ops = {
    .name = "s3",
    .flags = STORE_BE_REMOTE | STORE_BE_SHARED,
    .open = s3_open,
};
