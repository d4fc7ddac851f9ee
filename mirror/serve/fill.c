/* Fill on demand, the server's side: suspending and resuming connections
 * around a serve_upstream fill, and the streaming answer of a blob that
 * is still arriving. See fill.h. */
#include "mirror/serve/fill.h"

#include <stdio.h>
#include <stdlib.h>

#include "mirror/serve/respond.h"
#include "mirror/serve/upstream.h"

#define STREAM_BLOCK (64 * 1024) /* the callback response's block */

int fill_serves(const struct req *r)
{
	const struct serve_upstream *u = r->srv->o.upstream;

	return u && u->serves(u->ctx, r->rt.repo);
}

/* The fill's waiter callbacks: arg is the connection. suspend runs in the
 * handler's thread (under the fill's lock), wake in the fill's. */
static void conn_suspend(void *arg)
{
	MHD_suspend_connection(arg);
}

static void conn_wake(void *arg)
{
	MHD_resume_connection(arg);
}

enum fill_wait fill_settle(struct req *r, int streaming)
{
	const struct serve_upstream *u = r->srv->o.upstream;

	for (;;) {
		u->status(r->fill, &r->fst);
		if (r->fst.state == SERVE_FILL_DONE ||
		    r->fst.state == SERVE_FILL_FAILED ||
		    (streaming && r->fst.state == SERVE_FILL_STREAMING))
			return FILL_SETTLED;
		if (!u->wait(r->fill, &r->fst, conn_suspend, conn_wake, r->c))
			return FILL_SUSPENDED;
	}
}

enum MHD_Result fill_unavailable(struct req *r, struct MHD_Connection *c,
				 const char *msg)
{
	return respond_unavailable(r, c, "upstream: %s", msg);
}

void fill_release(struct req *r)
{
	if (r->fill) {
		r->srv->o.upstream->release(r->fill);
		r->fill = NULL;
	}
}

/* One streaming answer: the blob's bytes [from, from + len). */
struct stream {
	const struct serve_upstream *u;
	struct serve_fill *f; /* the response's reference */
	struct MHD_Connection *c;
	uint64_t from, len; /* len MHD_SIZE_UNKNOWN: to the end */
};

/* MHD's content reader: what has arrived, else suspend until more does
 * (and return 0: "no data yet"); a failed fill ends the answer short. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream *s = cls;
	struct serve_fill_status st;

	for (;;) {
		uint64_t at = s->from + pos;

		if (s->len != MHD_SIZE_UNKNOWN && pos >= s->len)
			return MHD_CONTENT_READER_END_OF_STREAM;
		s->u->status(s->f, &st);
		if (st.state == SERVE_FILL_FAILED)
			return MHD_CONTENT_READER_END_WITH_ERROR;
		if (at < st.available) {
			uint64_t n = st.available - at;
			ssize_t got;

			if (n > max)
				n = max;
			if (s->len != MHD_SIZE_UNKNOWN && n > s->len - pos)
				n = s->len - pos;
			got = s->u->read(s->f, at, buf, (size_t)n);
			return got > 0 ? got
				       : MHD_CONTENT_READER_END_WITH_ERROR;
		}
		if (st.state == SERVE_FILL_DONE)
			/* all of it read: the end, unless bytes are missing */
			return s->len == MHD_SIZE_UNKNOWN
				   ? MHD_CONTENT_READER_END_OF_STREAM
				   : MHD_CONTENT_READER_END_WITH_ERROR;
		if (!s->u->wait(s->f, &st, conn_suspend, conn_wake, s->c))
			return 0;
	}
}

static void stream_free(void *cls)
{
	struct stream *s = cls;

	s->u->release(s->f);
	free(s);
}

enum MHD_Result fill_stream(struct req *r, struct MHD_Connection *c,
			    int64_t size, uint64_t from, uint64_t len,
			    int partial)
{
	struct stream *s = calloc(1, sizeof(*s));
	struct MHD_Response *resp;
	char range[128], etag[160];

	if (!s)
		return MHD_NO;
	s->u = r->srv->o.upstream;
	s->f = r->fill;
	s->c = c;
	s->from = from;
	s->len = size < 0 ? MHD_SIZE_UNKNOWN : len;
	resp = MHD_create_response_from_callback(s->len, STREAM_BLOCK,
						 stream_read, s, stream_free);
	if (!resp) {
		free(s);
		return MHD_NO;
	}
	r->fill = NULL; /* the response's now: released with it */
	MHD_add_response_header(resp, "Content-Type",
				"application/octet-stream");
	MHD_add_response_header(resp, "Docker-Content-Digest",
				r->rt.digest.str);
	snprintf(etag, sizeof(etag), "\"%s\"", r->rt.digest.str);
	MHD_add_response_header(resp, "ETag", etag);
	if (size >= 0)
		MHD_add_response_header(resp, "Accept-Ranges", "bytes");
	if (partial && size >= 0) {
		snprintf(range, sizeof(range), "bytes %llu-%llu/%lld",
			 (unsigned long long)from,
			 (unsigned long long)(from + len - 1), (long long)size);
		MHD_add_response_header(resp, "Content-Range", range);
	}
	if (size >= 0)
		r->bytes_out += len;
	return respond_send(r, c, partial && size >= 0 ? 206 : 200, resp);
}
