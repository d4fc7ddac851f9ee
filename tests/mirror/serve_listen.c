/* The server's listen address (mirror/serve/listen.h): parsed before
 * anything is opened, bound with the errno in the message. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mirror/serve/listen.h"
#include "mirror/serve/options.h"

static struct sockaddr_storage ss;
static socklen_t sl;
static struct err err;

static void expect_bad(const char *s, const char *msg)
{
	err.msg[0] = '\0';
	cr_expect_eq(serve_listen_parse(&ss, &sl, s, &err), ERR_INVALID,
		     "%s accepted", s);
	cr_expect_str_eq(err.msg, msg, "for %s", s);
}

Test(serve_listen, good_addresses)
{
	const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
	const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&ss;

	cr_assert_eq(serve_listen_parse(&ss, &sl, "127.0.0.1:5000", &err), 0);
	cr_expect_eq(a->sin_family, AF_INET);
	cr_expect_eq(ntohs(a->sin_port), 5000);
	cr_expect_eq(ntohl(a->sin_addr.s_addr), INADDR_LOOPBACK);
	cr_assert_eq(serve_listen_parse(&ss, &sl, ":0", &err), 0);
	cr_expect_eq(ntohl(a->sin_addr.s_addr), INADDR_ANY);
	cr_assert_eq(serve_listen_parse(&ss, &sl, "65535", &err), 0);
	cr_expect_eq(ntohs(a->sin_port), 65535);
	cr_assert_eq(serve_listen_parse(&ss, &sl, "localhost:1", &err), 0);
	cr_expect_eq(ntohl(a->sin_addr.s_addr), INADDR_LOOPBACK);
	cr_assert_eq(serve_listen_parse(&ss, &sl, "[::1]:5000", &err), 0);
	cr_expect_eq(a6->sin6_family, AF_INET6);
	cr_expect_eq(sl, sizeof(struct sockaddr_in6));
	cr_expect_eq(ntohs(a6->sin6_port), 5000);
}

Test(serve_listen, bad_addresses_are_named)
{
	expect_bad("999.1.1.1:6705", "--listen \"999.1.1.1:6705\": "
				     "\"999.1.1.1\" is not an IP address (or "
				     "localhost)");
	expect_bad("example.com:80", "--listen \"example.com:80\": "
				     "\"example.com\" is not an IP address (or "
				     "localhost)");
	expect_bad("[nope]:1",
		   "--listen \"[nope]:1\": \"nope\" is not an IP address (or "
		   "localhost)");
	expect_bad("127.0.0.1:65536", "--listen \"127.0.0.1:65536\": port "
				      "\"65536\" is not a number in 0..65535");
	expect_bad("127.0.0.1:+80", "--listen \"127.0.0.1:+80\": port \"+80\" "
				    "is not a number in 0..65535");
	expect_bad("127.0.0.1:", "--listen \"127.0.0.1:\": port \"\" is not a "
				 "number in 0..65535");
	expect_bad("[::1]5000", "--listen \"[::1]5000\": expected HOST:PORT, "
				"[IPV6]:PORT, :PORT or PORT");
}

Test(serve_listen, options_check_refuses_a_bad_address)
{
	struct serve_options o;

	serve_options_init(&o);
	cr_expect_eq(serve_options_check(&o, &err), 0, "%s", err.msg);
	o.listen = "999.1.1.1:6705";
	cr_expect_eq(serve_options_check(&o, &err), ERR_INVALID);
	cr_expect(strstr(err.msg, "\"999.1.1.1\" is not an IP address"), "%s",
		  err.msg);
	o.listen = "";
	cr_expect_eq(serve_options_check(&o, &err), ERR_INVALID);
	cr_expect_str_eq(err.msg, "--listen: empty address");
}

Test(serve_listen, address_in_use_names_errno)
{
	int fd = -1, fd2 = -1;
	unsigned port = 0;
	char addr[64], want[128];

	cr_assert_eq(serve_listen_open(&fd, &port, "127.0.0.1:0", &err), 0,
		     "%s", err.msg);
	cr_assert(port > 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
	cr_expect_eq(serve_listen_open(&fd2, &port, addr, &err), ERR_FAIL);
	cr_expect_eq(fd2, -1);
	snprintf(want, sizeof(want),
		 "cannot listen on %s: Address already in use", addr);
	cr_expect_str_eq(err.msg, want);
	close(fd);
}
