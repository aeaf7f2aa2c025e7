/* test-http.c: the retry loop of http.c against a scripted server on
 * 127.0.0.1 (a forked child answering one connection per response):
 * 503 + Retry-After then success, a ranged GET cut mid-body that resumes
 * with the right Range, a permanent 404 that is not retried, and a 503
 * that outlasts max_tries. */
#include "harness.h"
#include "../../common/http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

struct step {
	const char *want;	/* substring the request must contain */
	const char *answer;	/* raw response; the connection closes after it */
};

static const struct step script[] = {
	/* 1: a 503 with Retry-After, then the answer */
	{ "GET /a ", "HTTP/1.1 503 Slow Down\r\nRetry-After: 0\r\nContent-Length: 0\r\n\r\n" },
	{ "GET /a ", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello" },
	/* 2: a ranged GET cut after 4 of 10 bytes, then resumed */
	{ "Range: bytes=100-109", "HTTP/1.1 206 Partial\r\nContent-Range: bytes 100-109/200\r\n"
	  "Content-Length: 10\r\n\r\n0123" },
	{ "Range: bytes=104-109", "HTTP/1.1 206 Partial\r\nContent-Range: bytes 104-109/200\r\n"
	  "Content-Length: 6\r\n\r\n456789" },
	/* 3: permanent */
	{ "GET /c ", "HTTP/1.1 404 Not Found\r\nContent-Length: 38\r\n\r\n"
	  "<Error><Code>NoSuchKey</Code></Error>\n" },
	/* 4: three 503s with max_tries 3 */
	{ "GET /d ", "HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n" },
	{ "GET /d ", "HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n" },
	{ "GET /d ", "HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n" },
	/* 5: a PUT from a file, the body checked by the server */
	{ "PUT /e ", NULL },
};
#define NSTEPS (sizeof(script) / sizeof(*script))

static void serve(int ls)
{
	for (size_t i = 0; i < NSTEPS; i++) {
		char req[8192];
		size_t n = 0;
		int c = accept(ls, NULL, NULL);
		const char *ans = script[i].answer;

		if (c < 0)
			_exit(1);
		while (n < sizeof(req) - 1) {
			ssize_t k = read(c, req + n, sizeof(req) - 1 - n);

			if (k <= 0)
				break;
			n += (size_t)k;
			req[n] = '\0';
			if (strstr(req, "\r\n\r\n") && (strncmp(req, "PUT", 3) ||
							strstr(req, "\r\n\r\nfile-body")))
				break;
		}
		req[n] = '\0';
		if (!ans)
			ans = strstr(req, "\r\n\r\nfile-body") ?
			      "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n" :
			      "HTTP/1.1 400 Bad\r\nContent-Length: 0\r\n\r\n";
		if (!strstr(req, script[i].want))
			ans = "HTTP/1.1 418 Unexpected\r\nContent-Length: 0\r\n\r\n";
		if (write(c, ans, strlen(ans)) < 0)
			_exit(1);
		close(c);
	}
	_exit(0);
}

/* For http_run: takes `batch` connections, reads a request from each,
 * checks that no further connection is waiting (the client keeps within
 * its bound), then answers them in reverse order (which only a client
 * running them at once gets through); `rounds` times. */
static void serve_parallel(int ls, int batch, int rounds)
{
	alarm(10);
	for (int r = 0; r < rounds; r++) {
		int c[16];
		struct pollfd pf = { .fd = ls, .events = POLLIN };

		for (int i = 0; i < batch; i++) {
			char req[4096];
			size_t n = 0;

			if ((c[i] = accept(ls, NULL, NULL)) < 0)
				_exit(1);
			while (n < sizeof(req) - 1 && !strstr(req, "\r\n\r\n")) {
				ssize_t k = read(c[i], req + n, sizeof(req) - 1 - n);

				if (k <= 0)
					_exit(1);
				n += (size_t)k;
				req[n] = '\0';
			}
		}
		if (poll(&pf, 1, 300) != 0)
			_exit(2);	/* more at once than the bound */
		for (int i = batch - 1; i >= 0; i--) {
			const char *ans = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";

			if (write(c[i], ans, strlen(ans)) < 0)
				_exit(1);
			close(c[i]);
		}
	}
	_exit(0);
}

static char base_url[64];
static struct http *h;

static void get(const char *path, struct buf *out, void *dst, size_t len, uint64_t off,
		struct http_resp *r, enum cc_code want)
{
	struct http_req q;
	struct cc_err err;
	char url[128];
	enum cc_code rc;

	http_req_init(&q);
	snprintf(url, sizeof(url), "%s%s", base_url, path);
	q.method = "GET";
	q.url = url;
	q.out = out;
	q.dst = dst;
	q.dst_len = len;
	q.range_off = off;
	cc_err_clear(&err);
	rc = http_do(h, &q, r, &err);
	if (rc != want)
		printf("#   %s: %s\n", path, err.msg);
	CHECK_EQ(rc, want);
}

static void test_retry_then_ok(void)
{
	struct buf out = BUF_INIT;
	struct http_resp r;

	http_resp_init(&r);
	get("/a", &out, NULL, 0, 0, &r, CC_OK);
	CHECK_EQ(r.status, 200);
	CHECK_EQ(r.tries, 2);
	CHECK_STR(out.data, "hello");
	http_resp_release(&r);
	buf_release(&out);
}

static void test_range_resume(void)
{
	char dst[11] = { 0 };
	struct http_resp r;

	http_resp_init(&r);
	get("/b", NULL, dst, 10, 100, &r, CC_OK);
	CHECK_EQ(r.status, 206);
	CHECK_EQ(r.tries, 2);
	CHECK_STR(dst, "0123456789");
	http_resp_release(&r);
}

static void test_permanent(void)
{
	struct buf out = BUF_INIT;
	struct http_resp r;

	http_resp_init(&r);
	get("/c", &out, NULL, 0, 0, &r, CC_OK);
	CHECK_EQ(r.status, 404);
	CHECK_EQ(r.tries, 1);
	CHECK_EQ(out.len, 0);
	CHECK(strstr(r.err_body.data, "<Code>NoSuchKey</Code>") != NULL);
	http_resp_release(&r);
	buf_release(&out);
}

static void test_exhausted(void)
{
	struct http_resp r;

	http_resp_init(&r);
	get("/d", NULL, NULL, 0, 0, &r, CC_OK);
	CHECK_EQ(r.status, 503);
	CHECK_EQ(r.tries, 3);
	http_resp_release(&r);
}

static void test_put_file(void)
{
	char path[] = "/tmp/cicache-test-http-XXXXXX";
	int fd = mkstemp(path);
	struct http_req q;
	struct http_resp r;
	struct cc_err err;
	char url[128];

	CHECK(fd >= 0);
	CHECK_EQ(write(fd, "xxfile-body", 11), 11);
	unlink(path);
	http_req_init(&q);
	http_resp_init(&r);
	snprintf(url, sizeof(url), "%s/e", base_url);
	q.method = "PUT";
	q.url = url;
	q.body_fd = fd;
	q.body_off = 2;
	q.body_len = 9;
	CHECK_EQ(http_do(h, &q, &r, &err), CC_OK);
	CHECK_EQ(r.status, 200);
	http_resp_release(&r);
	close(fd);
}

static void run_parallel(int njobs, int parallel)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	int ls = socket(AF_INET, SOCK_STREAM, 0), status = -1;
	struct http_job jobs[8];
	struct http_req q[8];
	struct http_resp r[8];
	struct buf out[8];
	char url[64];
	pid_t pid;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(ls >= 0 && !bind(ls, (struct sockaddr *)&sa, sizeof(sa)) && !listen(ls, 16) &&
	      !getsockname(ls, (struct sockaddr *)&sa, &sl));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/p", ntohs(sa.sin_port));
	if ((pid = fork()) == 0)
		serve_parallel(ls, parallel, njobs / parallel);
	close(ls);
	for (int i = 0; i < njobs; i++) {
		http_req_init(&q[i]);
		http_resp_init(&r[i]);
		buf_init(&out[i], 64);
		q[i].method = "GET";
		q[i].url = url;
		q[i].out = &out[i];
		jobs[i] = (struct http_job){ .req = &q[i], .resp = &r[i] };
	}
	http_run(h, jobs, (size_t)njobs, parallel);
	for (int i = 0; i < njobs; i++) {
		CHECK_EQ(jobs[i].rc, CC_OK);
		CHECK_EQ(r[i].status, 200);
		CHECK_STR(out[i].data ? out[i].data : "", "ok");
		http_resp_release(&r[i]);
		buf_release(&out[i]);
	}
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* Four requests at once are answered last-first; with a bound of two,
 * never more than two connections are open. */
static void test_run_parallel(void)
{
	run_parallel(4, 4);
	run_parallel(8, 2);
}

int main(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	struct cc_err err;
	int ls = socket(AF_INET, SOCK_STREAM, 0), status = 0;
	pid_t pid;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof(sa)) || listen(ls, 8) ||
	    getsockname(ls, (struct sockaddr *)&sa, &sl)) {
		printf("# cannot listen on 127.0.0.1\n");
		return 1;
	}
	snprintf(base_url, sizeof(base_url), "http://127.0.0.1:%d", ntohs(sa.sin_port));
	signal(SIGPIPE, SIG_IGN);
	pid = fork();
	if (pid == 0)
		serve(ls);
	close(ls);
	if (http_new(&h, 3, &err)) {
		printf("# %s\n", err.msg);
		return 1;
	}
	RUN(test_retry_then_ok);
	RUN(test_range_resume);
	RUN(test_permanent);
	RUN(test_exhausted);
	RUN(test_put_file);
	RUN(test_run_parallel);
	http_free(h);
	kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
	return test_summary();
}
