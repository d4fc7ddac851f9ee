#include "oci/ref.h"

#include <stdio.h>
#include <string.h>

#define SHOW_MAX 100
#define WHY_MAX 256
#define REF_INPUT_MAX (OCI_REF_STR_MAX + 64)

static int is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int is_alnum(char c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static int is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	       (c >= 'A' && c <= 'F');
}

static void char_shown(char *dst, size_t cap, char c)
{
	unsigned char u = (unsigned char)c;

	if (u >= 0x20 && u < 0x7f && u != '\'' && u != '\\')
		snprintf(dst, cap, "%c", c);
	else
		snprintf(dst, cap, "\\x%02x", u);
}

/* One path component: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)* */
static int component_problem(char *why, size_t cap, const char *c, size_t n)
{
	char show[SHOW_MAX];
	size_t i;

	err_shown(show, sizeof(show), c, n);
	if (!is_lower_alnum(c[0]) || !is_lower_alnum(c[n - 1])) {
		snprintf(why, cap,
			 "repository path component \"%s\" must start and end "
			 "with a lowercase letter or digit",
			 show);
		return 1;
	}
	for (i = 0; i < n;) {
		size_t run = 0;

		if (is_lower_alnum(c[i])) {
			i++;
			continue;
		}
		if (c[i] == '.') {
			run = 1;
		} else if (c[i] == '_') {
			while (i + run < n && c[i + run] == '_')
				run++;
			if (run > 2)
				goto bad_sep;
		} else if (c[i] == '-') {
			while (i + run < n && c[i + run] == '-')
				run++;
		}
		/* run > 0 here; the component ends with alnum, so i + run < n
		 */
		if (!is_lower_alnum(c[i + run]))
			goto bad_sep;
		i += run;
	}
	return 0;
bad_sep:
	snprintf(why, cap,
		 "repository path component \"%s\" has an invalid separator "
		 "(use '.', '_', '__' or '-')",
		 show);
	return 1;
}

/* Returns 0 if path[0..n) is a valid repository path, else 1 with why. */
static int path_problem(char *why, size_t cap, const char *p, size_t n)
{
	size_t i, start;
	char ch[8];

	if (n == 0) {
		snprintf(why, cap, "repository path is empty");
		return 1;
	}
	for (i = 0; i < n; i++) {
		if (p[i] >= 'A' && p[i] <= 'Z') {
			snprintf(why, cap, "repository path must be lowercase");
			return 1;
		}
		if (!is_lower_alnum(p[i]) && p[i] != '.' && p[i] != '_' &&
		    p[i] != '-' && p[i] != '/') {
			char_shown(ch, sizeof(ch), p[i]);
			snprintf(
			    why, cap,
			    "repository path contains invalid character '%s'",
			    ch);
			return 1;
		}
	}
	for (start = 0, i = 0; i <= n; i++) {
		if (i < n && p[i] != '/')
			continue;
		if (i == start) {
			snprintf(why, cap,
				 "repository path has an empty component");
			return 1;
		}
		if (component_problem(why, cap, p + start, i - start))
			return 1;
		start = i + 1;
	}
	return 0;
}

static int port_problem(char *why, size_t cap, const char *p, size_t n)
{
	char show[SHOW_MAX];
	unsigned long v = 0;
	size_t i;

	err_shown(show, sizeof(show), p, n);
	if (n == 0 || n > 5)
		goto bad;
	for (i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			goto bad;
		v = v * 10 + (unsigned long)(p[i] - '0');
	}
	if (v == 0 || v > 65535)
		goto bad;
	return 0;
bad:
	snprintf(why, cap, "registry port \"%s\" is not a number 1-65535",
		 show);
	return 1;
}

/* HOST[:PORT], HOST a domain, IPv4 address or [IPv6]. */
static int host_problem(char *why, size_t cap, const char *h, size_t n)
{
	char show[SHOW_MAX];
	const char *end = h + n, *p, *label;
	int colons = 0;

	err_shown(show, sizeof(show), h, n);
	if (h[0] == '[') {
		for (p = h + 1; p < end && *p != ']'; p++) {
			if (*p == ':')
				colons++;
			else if (!is_hex(*p))
				goto bad;
		}
		if (p == end || p == h + 1 || colons < 2)
			goto bad;
		p++;
	} else {
		for (p = h, label = h; p <= end; p++) {
			if (p < end && (is_alnum(*p) || *p == '-'))
				continue;
			if (p < end && *p != '.' && *p != ':')
				goto bad;
			if (p == label || label[0] == '-' || p[-1] == '-' ||
			    p - label > 63)
				goto bad;
			if (p == end || *p == ':')
				break;
			label = p + 1;
		}
	}
	if (p == end)
		return 0;
	if (*p != ':')
		goto bad;
	return port_problem(why, cap, p + 1, (size_t)(end - p - 1));
bad:
	snprintf(why, cap, "registry host \"%s\" is invalid", show);
	return 1;
}

static int tag_problem(char *why, size_t cap, const char *t, size_t n)
{
	char show[SHOW_MAX];
	size_t i;

	if (n == 0) {
		snprintf(why, cap, "tag is empty");
		return 1;
	}
	if (n > OCI_TAG_MAX) {
		snprintf(why, cap, "tag is longer than %d characters",
			 OCI_TAG_MAX);
		return 1;
	}
	err_shown(show, sizeof(show), t, n);
	if (!is_alnum(t[0]) && t[0] != '_')
		goto bad;
	for (i = 1; i < n; i++)
		if (!is_alnum(t[i]) && t[i] != '_' && t[i] != '.' &&
		    t[i] != '-')
			goto bad;
	return 0;
bad:
	snprintf(why, cap,
		 "tag \"%s\" is invalid (allowed: [A-Za-z0-9_][A-Za-z0-9._-]*)",
		 show);
	return 1;
}

static int is_docker_hub(const char *h, size_t n)
{
	return (n == 9 && !memcmp(h, "docker.io", 9)) ||
	       (n == 15 && !memcmp(h, "index.docker.io", 15)) ||
	       (n == 20 && !memcmp(h, "registry-1.docker.io", 20));
}

static int looks_like_host(const char *c, size_t n)
{
	return memchr(c, '.', n) || memchr(c, ':', n) || c[0] == '[' ||
	       (n == 9 && !memcmp(c, "localhost", 9));
}

static const char *last_of(const char *s, const char *end, char c)
{
	const char *p, *found = NULL;

	for (p = s; p < end; p++)
		if (*p == c)
			found = p;
	return found;
}

static int parse(struct oci_ref *out, const char *s, int repo_only,
		 struct err *err)
{
	const char *what = repo_only ? "repository name" : "reference";
	char show[SHOW_MAX];
	char why[WHY_MAX];
	const char *at, *end, *slash, *colon, *path;
	size_t len, host_len, path_len, i;
	int lib, rc = ERR_INVALID;

	memset(out, 0, sizeof(*out));
	if (!s) {
		err_set(err, ERR_INVALID, "invalid %s: none given", what);
		goto out;
	}
	len = strnlen(s, REF_INPUT_MAX + 1);
	err_shown(show, sizeof(show), s, len);
	if (len == 0) {
		snprintf(why, sizeof(why), "%s is empty", what);
		goto fail;
	}
	if (len > REF_INPUT_MAX) {
		snprintf(why, sizeof(why), "%s is too long", what);
		goto fail;
	}

	at = strchr(s, '@');
	end = at ? at : s + len;
	if (at) {
		if (repo_only) {
			snprintf(why, sizeof(why),
				 "a repository name has no digest");
			goto fail;
		}
		if (at[1] == '\0') {
			snprintf(why, sizeof(why), "digest is empty");
			goto fail;
		}
		rc = oci_digest_parse(&out->digest, at + 1, err);
		if (rc) {
			err_wrap(err, "invalid %s \"%s\": ", what, show);
			goto out;
		}
		out->has_digest = 1;
		rc = ERR_INVALID;
	}

	slash = last_of(s, end, '/');
	colon = last_of(slash ? slash : s, end, ':');
	if (colon) {
		if (repo_only) {
			snprintf(why, sizeof(why),
				 "a repository name has no tag");
			goto fail;
		}
		if (tag_problem(why, sizeof(why), colon + 1,
				(size_t)(end - colon - 1)))
			goto fail;
		memcpy(out->tag, colon + 1, (size_t)(end - colon - 1));
		out->tag[end - colon - 1] = '\0';
		end = colon;
	}
	if (end == s) {
		snprintf(why, sizeof(why), "repository path is empty");
		goto fail;
	}

	slash = memchr(s, '/', (size_t)(end - s));
	if (slash && looks_like_host(s, (size_t)(slash - s))) {
		host_len = (size_t)(slash - s);
		if (host_problem(why, sizeof(why), s, host_len))
			goto fail;
		path = slash + 1;
	} else {
		host_len = 0;
		path = s;
	}
	path_len = (size_t)(end - path);
	if (path_problem(why, sizeof(why), path, path_len))
		goto fail;

	if (host_len > OCI_NAME_MAX) {
		snprintf(why, sizeof(why), "name is longer than %d characters",
			 OCI_NAME_MAX);
		goto fail;
	}
	for (i = 0; i < host_len; i++) {
		char c = s[i];
		out->host[i] =
		    (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	out->host[host_len] = '\0';
	if (!host_len || is_docker_hub(out->host, host_len))
		memcpy(out->host, "docker.io", sizeof("docker.io"));
	host_len = strlen(out->host);

	lib = !strcmp(out->host, "docker.io") && !memchr(path, '/', path_len);
	if (host_len + 1 + (lib ? 8 : 0) + path_len > OCI_NAME_MAX) {
		snprintf(why, sizeof(why), "name is longer than %d characters",
			 OCI_NAME_MAX);
		goto fail;
	}
	snprintf(out->path, sizeof(out->path), "%s%.*s", lib ? "library/" : "",
		 (int)path_len, path);

	if (!repo_only && !out->tag[0] && !out->has_digest)
		memcpy(out->tag, "latest", sizeof("latest"));
	rc = 0;
	goto out;
fail:
	err_set(err, ERR_INVALID, "invalid %s \"%s\": %s", what, show, why);
out:
	if (rc)
		memset(out, 0, sizeof(*out));
	return rc;
}

int oci_ref_parse(struct oci_ref *out, const char *s, struct err *err)
{
	return parse(out, s, 0, err);
}

int oci_ref_parse_repo(struct oci_ref *out, const char *s, struct err *err)
{
	return parse(out, s, 1, err);
}

int oci_path_valid(const char *path)
{
	char why[WHY_MAX];
	size_t n;

	if (!path)
		return 0;
	n = strnlen(path, OCI_NAME_MAX + 1);
	return n <= OCI_NAME_MAX && !path_problem(why, sizeof(why), path, n);
}

int oci_host_valid(const char *host, size_t n)
{
	char why[WHY_MAX];

	return host && n && n <= OCI_NAME_MAX &&
	       !host_problem(why, sizeof(why), host, n);
}

int oci_name_first_looks_like_host(const char *name)
{
	const char *slash = name ? strchr(name, '/') : NULL;

	if (!name)
		return 0;
	return looks_like_host(name,
			       slash ? (size_t)(slash - name) : strlen(name));
}

int oci_name_has_host(const char *name)
{
	return name && strchr(name, '/') &&
	       oci_name_first_looks_like_host(name);
}

int oci_repo_name_valid(const char *repo)
{
	const char *slash;

	if (!repo || strnlen(repo, OCI_REPO_MAX + 1) > OCI_REPO_MAX)
		return 0;
	if (!oci_name_has_host(repo))
		return oci_path_valid(repo); /* a local name: "team/app" */
	slash = strchr(repo, '/');
	return oci_host_valid(repo, (size_t)(slash - repo)) &&
	       oci_path_valid(slash + 1);
}

int oci_tag_valid(const char *tag)
{
	char why[WHY_MAX];

	if (!tag)
		return 0;
	return !tag_problem(why, sizeof(why), tag,
			    strnlen(tag, OCI_TAG_MAX + 1));
}

void oci_ref_repo(const struct oci_ref *r, char *dst, size_t cap)
{
	if (!cap)
		return;
	snprintf(dst, cap, "%s/%s", r->host, r->path);
}

void oci_ref_format(const struct oci_ref *r, char *dst, size_t cap)
{
	if (!cap)
		return;
	snprintf(dst, cap, "%s/%s%s%s%s%s", r->host, r->path,
		 r->tag[0] ? ":" : "", r->tag, r->has_digest ? "@" : "",
		 r->has_digest ? r->digest.str : "");
}

const char *oci_ref_endpoint(const struct oci_ref *r)
{
	if (!strcmp(r->host, "docker.io"))
		return "registry-1.docker.io";
	return r->host;
}
