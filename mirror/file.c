#include "mirror/file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "oci/buf.h"

int file_read_capped(char **out, size_t *len_out, const char *path, size_t max,
		     struct err *err)
{
	char chunk[8192];
	struct buf b;
	ssize_t n;
	int fd, rc = 0;

	*out = NULL;
	*len_out = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(err, errno == ENOENT ? ERR_NOT_FOUND : ERR_FAIL,
			       "%s: %s", path, strerror(errno));
	buf_init(&b, max);
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = err_set(err, ERR_FAIL, "read %s: %s", path,
				     strerror(errno));
			break;
		}
		rc = buf_append(&b, chunk, (size_t)n);
		if (rc == ERR_TOO_LARGE) {
			err_set(err, rc, "%s: larger than %zu bytes", path,
				max);
			break;
		}
		if (rc) {
			err_set(err, rc, "%s: out of memory", path);
			break;
		}
	}
	close(fd);
	if (rc) {
		buf_release(&b);
		return rc;
	}
	*out = buf_detach(&b, len_out);
	return *out ? 0 : err_set(err, ERR_FAIL, "%s: out of memory", path);
}
