/* Durability of the filesystem store: after a record or blob is renamed
 * into place, the directory holding it (and each directory mkdirs made on
 * the way) is fsync'd, so a power loss cannot drop the new name. fsync is
 * interposed here (this test binary's definition wins over libc's for the
 * statically linked library) to record which directories were synced. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mirror/store/device.h"
#include "mirror/store/store.h"
#include "tests/mirror/storefix.h"

#define SYNCED_MAX 256

/* per test process (criterion forks each test) */
static struct stat synced[SYNCED_MAX];
static int n_synced;

int fsync(int fd)
{
	struct stat st;

	if (!fstat(fd, &st) && S_ISDIR(st.st_mode) && n_synced < SYNCED_MAX)
		synced[n_synced++] = st;
	return (int)syscall(SYS_fsync, fd);
}

static int dir_synced(const char *path)
{
	struct stat st;

	cr_assert_eq(stat(path, &st), 0, "stat %s", path);
	for (int i = 0; i < n_synced; i++)
		if (synced[i].st_dev == st.st_dev &&
		    synced[i].st_ino == st.st_ino)
			return 1;
	return 0;
}

static struct fix f;

static void setup(void)
{
	fix_setup(&f);
}

static void teardown(void)
{
	fix_teardown(&f);
}

TestSuite(store_durable, .init = setup, .fini = teardown);

Test(store_durable, device_record_directory_and_new_parents_synced)
{
	char p[512];
	struct err e;

	n_synced = 0;
	cr_assert_eq(store_device_put(&f.st, "dev1", "{}", &e), 0, "%s", e.msg);
	snprintf(p, sizeof(p), "%s/devices", f.root);
	/* the record's name in devices/, and devices/ in the store root */
	cr_assert(dir_synced(p), "devices/ not fsync'd after the rename");
	cr_assert(dir_synced(f.root), "store root not fsync'd after mkdir devices");
	/* a replacement (directory exists already) syncs it again */
	n_synced = 0;
	cr_assert_eq(store_device_put(&f.st, "dev1", "{\"a\":1}", &e), 0, "%s",
		     e.msg);
	cr_assert(dir_synced(p), "devices/ not fsync'd after the replace");
}

Test(store_durable, blob_directory_synced_after_rename)
{
	struct oci_digest d;
	struct err e;
	char p[512];

	oci_digest_of(&d, OCI_SHA256, "durable", 7);
	n_synced = 0;
	cr_assert_eq(store_blob_put(&f.st, &d, "durable", 7, &e), 0, "%s",
		     e.msg);
	snprintf(p, sizeof(p), "%s/blobs/sha256", f.root);
	cr_assert(dir_synced(p), "blobs/sha256 not fsync'd after the rename");
}
