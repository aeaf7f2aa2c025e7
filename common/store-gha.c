/* store-gha.c: a store in the GitHub Actions cache service (cache service
 * v2: twirp JSON calls, bodies in Azure Blob storage through signed URLs).
 *
 * Location: "gha", "gha://" or "gha://NAMESPACE" (open() gets NAMESPACE,
 * or "", as store.c strips the scheme).  The service is found
 * through ACTIONS_RESULTS_URL and ACTIONS_RUNTIME_TOKEN, which the runner
 * gives to actions (not to plain `run:` steps).
 *
 * The service holds immutable entries (key, version) and has no listing
 * and no delete, so objects map onto entries like this (P is "cicache/" or
 * "cicache/NAMESPACE/"):
 *
 *   object NAME        entry key "P" NAME "/" SUFFIX
 *
 * with every ',' of NAME written as ' ' (the service refuses ','), and
 * where SUFFIX is "0" for a pack (content-named: a second save of the same
 * pack meets 409 already_exists, which is success) and for a key saved with
 * STORE_PUT_IF_ABSENT (first writer wins), and the save's wall-clock time
 * in nanoseconds (19 digits) for a rolling key, so every save of a key is
 * a new entry.  A pack whose "0" entry is reserved but never finished (a
 * killed save) is uploaded again under a time suffix.  Looking up NAME
 * asks for the newest entry whose key starts with "P" NAME "/"
 * (restore_keys prefix matching): the newest save wins.
 * The version of every entry is GHA_VERSION_TEXT hashed with SHA-256 (hex),
 * which keeps actions/cache's own entries (version = hash of paths and
 * compression) apart.
 *
 * list(prefix) reports at most one object: the newest entry whose key
 * starts with "P" prefix.  Sizes are unknown (0).
 *
 * Lifecycle work (list_all, del) goes through GitHub's REST API instead,
 * which the runtime token cannot call: GET and DELETE
 * {GITHUB_API_URL}/repos/{GITHUB_REPOSITORY}/actions/caches[/{id}] with
 * GITHUB_TOKEN (permission actions: write; reading needs actions: read).
 * It sees the entries of every branch of the repository; with GITHUB_REF
 * set (as on every runner) list_all and del keep to that branch's
 * entries, which this job can read back (a prune must not count entries
 * it cannot read).  list_all pages through the entries whose key starts
 * with "P" prefix (oldest first, so entries created meanwhile come last)
 * and reports each object once: the newest entry of its name, created_at
 * as mtime, size_in_bytes as size.  del removes every entry of the name
 * (an older save of a rolling key would otherwise come back) that a
 * fresh list_all saw, else that the service lists.  Without a token the
 * service is left to evict on its own (entries unused for 7 days; least
 * recently used beyond 10 GB).
 *
 * Blob bodies: Put Blob up to SINGLE_MAX bytes, else Put Block of
 * s->part_size (else BLOCK_SIZE) bytes in parallel (s->jobs) and Put Block List.  Reads are ranged
 * GETs, adjacent ranges of one object coalesced.  Signed URLs are
 * credentials: they are kept out of error messages. */
#include "answer-json.h"
#include "store.h"
#include "store-answers.h"
#include "sigv4.h"
#include "http.h"
#include "key.h"
#include "log.h"
#include "url.h"
#include "util.h"
#include "xml.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#define GHA_VERSION_TEXT "cicache gha store 1"
#define TWIRP_PATH "/twirp/github.actions.results.api.v1.CacheService/"
/* The service's limit on entry keys, in characters as @actions/cache's
 * checkKey counts them (JavaScript's String.length: UTF-16 code units).
 * An entry key is "P" NAME "/" SUFFIX, at most 8 + NAME + 20 characters
 * with P "cicache/", so object names have room for 484 characters, and
 * "keys/" E(key) ",@" V (18) leaves 461 characters for E(key): a key of
 * at most 461 characters, a space or '/' in it counting 3.  A namespace
 * NS takes strlen(NS) + 1 more. */
#define ENTRY_KEY_MAX 512
#define ENTRY_SUFFIX_MAX 20		/* "/" and 19 digits */
#define TWIRP_BODY_MAX (64u * 1024)
#define SINGLE_MAX (4u << 20)
#define BLOCK_SIZE (8u << 20)
#define MAX_BLOCKS 50000u
#define COALESCE_MAX (16u << 20)
#define DEFAULT_TRIES 6
#define URL_CACHE 64
#define URL_TTL_MS (5 * 60 * 1000)
#define AZURE_VERSION "2021-08-06"
#define REST_API_DEFAULT "https://api.github.com"
#define REST_API_VERSION "2022-11-28"
#define REST_PER_PAGE 100
#define REST_BODY_MAX (4u << 20)	/* one page: 100 entries of at most ~1 KB */
/* 500,000 service entries: far beyond what 10 GB per repository holds;
 * a server that keeps sending pages is cut off there. */
#define REST_PAGES_MAX 5000
#define KNOWN_TTL_MS (10 * 60 * 1000)	/* how long del trusts a listing */
#define REST_NO_TOKEN_HINT \
	"the GitHub cache service evicts entries by itself (unused for 7 days, " \
	"least recently used beyond 10 GB per repository); to list or delete them, " \
	"give a token with `actions: write` in GITHUB_TOKEN (in a workflow: " \
	"permissions: actions: write, env: GITHUB_TOKEN: ${{ github.token }})"

struct url_slot {
	char *name;		/* object name */
	char *url;		/* signed download URL */
	int64_t mtime_ns;
	uint64_t at_ms;
};

struct gha {
	char *base;		/* "scheme://host[:port]" of the cache service */
	char *token;
	char *prefix;		/* "cicache/" or "cicache/NS/" */
	char version[65];
	char *api;		/* GITHUB_API_URL, without a trailing '/' */
	char *api_token;	/* GITHUB_TOKEN, or NULL */
	char *repo;		/* GITHUB_REPOSITORY "OWNER/REPO", or NULL */
	char *ref;		/* GITHUB_REF: the branch whose entries to list, or NULL */
	/* What list_all saw (every entry, by name): del removes those ids
	 * without listing again while it is fresh.  Guarded by mu. */
	struct rest_known *known;
	/* Names this store put since its first list_all: a listing does
	 * not know their entries, so del lists them afresh.  Guarded by mu. */
	char **put_names;
	size_t n_put_names;
	struct http *http;
	pthread_mutex_t mu;	/* guards urls */
	struct url_slot urls[URL_CACHE];
};

/* One service entry of ours, from the REST listing. */
struct rest_entry {
	char *name;		/* object name */
	uint64_t id;
	uint64_t size;
	int64_t created_ns;
};

struct rest_list {
	struct rest_entry *v;
	size_t n, alloc;
};

static void rest_list_release(struct rest_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* The entries one list_all saw, sorted by name: complete for every name
 * that starts with prefix, as of at_ms. */
struct rest_known {
	struct rest_known *next;
	char *prefix;
	uint64_t at_ms;
	struct rest_list l;
};

static void known_free(struct rest_known *k)
{
	while (k) {
		struct rest_known *next = k->next;

		free(k->prefix);
		rest_list_release(&k->l);
		free(k);
		k = next;
	}
}

static void known_put(struct gha *g, const char *name);

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void secret_free(char *p)
{
	if (p) {
		OPENSSL_cleanse(p, strlen(p));
		free(p);
	}
}

static void url_slot_clear(struct url_slot *u)
{
	free(u->name);
	secret_free(u->url);
	memset(u, 0, sizeof(*u));
}

static void gha_close(struct store *s)
{
	struct gha *g = s->priv;

	for (int i = 0; i < URL_CACHE; i++)
		url_slot_clear(&g->urls[i]);
	pthread_mutex_destroy(&g->mu);
	free(g->base);
	secret_free(g->token);
	known_free(g->known);
	for (size_t i = 0; i < g->n_put_names; i++)
		free(g->put_names[i]);
	free(g->put_names);
	secret_free(g->api_token);
	free(g->api);
	free(g->repo);
	free(g->ref);
	free(g->prefix);
	http_free(g->http);
	free(g);
	s->priv = NULL;
}

/* ---------------------------------------------------------------- JSON */

/* Appends s as a JSON string, as jansson writes it.  Keys are checked
 * to be UTF-8 before they get here (cc_key_check); jansson refuses
 * anything else. */
static enum cc_code json_add_str(struct buf *b, const char *s, struct cc_err *err)
{
	json_t *j = NULL;
	char *q = NULL;
	enum cc_code rc;

	if (!(j = json_string(s))) {
		rc = cc_err_set(err, CC_EUSAGE, 0, "'%s' is not valid UTF-8", s);
		goto cleanup;
	}
	if (!(q = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT))) {
		rc = cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
		goto cleanup;
	}
	rc = buf_addstr(b, q, err);
cleanup:
	free(q);
	json_decref(j);
	return rc;
}

/* Writes the request json_pack(fmt, ...) builds into body, compact, as
 * twirp takes it.  @return CC_OK, CC_EUSAGE for a string that is not
 * UTF-8 (keys are checked before they get here: cc_key_check), or
 * CC_ENOMEM. */
static enum cc_code json_body(struct buf *body, struct cc_err *err, const char *fmt, ...)
{
	json_error_t e;
	json_t *req = NULL;
	char *s = NULL;
	enum cc_code rc;
	va_list ap;

	va_start(ap, fmt);
	req = json_vpack_ex(&e, 0, fmt, ap);
	va_end(ap);
	if (!req && json_error_code(&e) == json_error_invalid_utf8) {
		rc = cc_err_set(err, CC_EUSAGE, 0, "a key is not valid UTF-8");
		goto cleanup;
	}
	if (!req || !(s = json_dumps(req, JSON_COMPACT))) {
		rc = cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
		goto cleanup;
	}
	rc = buf_addstr(body, s, err);
cleanup:
	free(s);
	json_decref(req);
	return rc;
}

/* Levels of objects and arrays in an answer: a REST page has three. */
#define ANSWER_DEPTH 32

/* Finds member name (or, when absent, its camelCase twin alt) of the
 * JSON object in body, read by answer_json_load's rules.  A string value
 * is decoded into out; true, false, null and integers are written as
 * JSON writes them ("true", "123").  @return true when present, of one
 * of those types, and fitting out. */
static bool json_get(const struct buf *body, const char *name, const char *alt,
		     struct buf *out)
{
	json_t *root = NULL;
	char why[80];
	bool found = false;

	buf_reset(out);
	if (!(root = answer_json_load(body->data, body->len, REST_BODY_MAX, ANSWER_DEPTH, why,
				      sizeof(why))))
		goto cleanup;
	if (alt && !json_object_get(root, name))
		name = alt;
	found = answer_json_member(root, name, out);
cleanup:
	json_decref(root);
	return found;
}

bool gha_json_get(const struct buf *body, const char *name, const char *alt,
		  struct buf *out)
{
	return json_get(body, name, alt, out);
}

/* ---------------------------------------------------------------- setup */

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

static enum cc_code gha_open(struct store *s, const char *location, struct cc_err *err)
{
	struct gha *g = calloc(1, sizeof(*g));
	const char *url = env("ACTIONS_RESULTS_URL"), *token = env("ACTIONS_RUNTIME_TOKEN");
	const char *tmp = env("TMPDIR") ? env("TMPDIR") : env("RUNNER_TEMP");
	const char *host, *hend;
	char shown[512];
	unsigned char md[32];
	unsigned int mdlen = 0;
	enum cc_code rc = CC_OK;

	if (!g)
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
	pthread_mutex_init(&g->mu, NULL);
	s->priv = g;
	for (const char *p = location; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.')
			return cc_err_set(err, CC_EUSAGE, 0,
					  "bad gha namespace '%s' in '%s' (letters, digits, '-', '_', '.')",
					  location, s->location);
	if (strlen(location) > 64)
		return cc_err_set(err, CC_EUSAGE, 0, "gha namespace '%s' is longer than 64 bytes",
				  location);
	if (!url || !token)
		return cc_err_set(err, CC_ESTORE, 0,
				  "store '%s': %s not set: GitHub gives %s to actions, not to the "
				  "shell of a plain `run:` step; run cicache through its action "
				  "(ci-templates/github), or export %s from an actions/github-script "
				  "step into $GITHUB_ENV", s->location,
				  !url && !token ? "ACTIONS_RESULTS_URL and ACTIONS_RUNTIME_TOKEN are" :
				  !url ? "ACTIONS_RESULTS_URL is" : "ACTIONS_RUNTIME_TOKEN is",
				  !url && !token ? "them" : "it", !url && !token ? "them" : "it");
	if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8))
		return cc_err_set(err, CC_ESTORE, 0,
				  "ACTIONS_RESULTS_URL '%s' must start with http:// or https://",
				  url_redact(shown, sizeof(shown), url));
	/* Like the official client, only scheme and authority are used. */
	host = strstr(url, "://") + 3;
	hend = host + strcspn(host, "/?#");
	if (hend == host || memchr(host, '@', (size_t)(hend - host)))
		return cc_err_set(err, CC_ESTORE, 0, "bad ACTIONS_RESULTS_URL '%s'",
				  url_redact(shown, sizeof(shown), url));
	if (!(g->base = strndup(url, (size_t)(hend - url))) || !(g->token = strdup(token)) ||
	    asprintf(&g->prefix, "cicache/%s%s", location, *location ? "/" : "") < 0 ||
	    !(s->tmpdir = strdup(tmp ? tmp : "/tmp"))) {
		g->prefix = NULL;
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
	}
	/* For list_all and del only: a save or a restore needs none of them. */
	{
		const char *api = env("GITHUB_API_URL") ? env("GITHUB_API_URL") : REST_API_DEFAULT;
		size_t n = strlen(api);

		while (n && api[n - 1] == '/')
			n--;
		if (!(g->api = strndup(api, n)) ||
		    (env("GITHUB_TOKEN") && !(g->api_token = strdup(env("GITHUB_TOKEN")))) ||
		    (env("GITHUB_REPOSITORY") && !(g->repo = strdup(env("GITHUB_REPOSITORY")))) ||
		    (env("GITHUB_REF") && !(g->ref = strdup(env("GITHUB_REF")))))
			return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
	}
	if (!EVP_Digest(GHA_VERSION_TEXT, strlen(GHA_VERSION_TEXT), md, &mdlen, EVP_sha256(),
			NULL) || mdlen != 32)
		return cc_err_set(err, CC_EINTERNAL, 0, "cannot compute SHA-256");
	for (int i = 0; i < 32; i++)
		snprintf(g->version + 2 * i, 3, "%02x", md[i]);
	{
		const char *t = env("CICACHE_GHA_TRIES");
		int tries = t ? atoi(t) : DEFAULT_TRIES;

		rc = http_new(&g->http, tries > 0 ? tries : DEFAULT_TRIES, err);
	}
	return rc;
}

/* --------------------------------------------------------------- twirp */

static enum cc_code sign_twirp(void *ctx, struct http_headers *h, struct cc_err *err)
{
	struct gha *g = ctx;
	struct buf v = BUF_INIT;
	enum cc_code rc;

	if (!(rc = buf_addf(&v, err, "Bearer %s", g->token)))
		rc = http_header_add(h, "Authorization", v.data, err);
	if (!rc)
		rc = http_header_add(h, "Content-Type", "application/json", err);
	if (!rc)
		rc = http_header_add(h, "Accept", "application/json", err);
	OPENSSL_cleanse(v.data, v.len);
	buf_release(&v);
	return rc;
}

/* Words a failed twirp call: "gha cache service: cannot WHAT: HTTP n code: msg". */
static enum cc_code twirp_fail(const char *what, const struct http_resp *r, struct cc_err *err)
{
	struct buf code = BUF_INIT, msg = BUF_INIT;
	const char *hint = "";

	buf_init(&code, 256);
	buf_init(&msg, 512);
	json_get(&r->err_body, "code", NULL, &code);
	json_get(&r->err_body, "msg", NULL, &msg);
	for (char *p = msg.data; *p; p++)
		if (!isprint((unsigned char)*p))
			*p = '?';
	for (char *p = code.data; *p; p++)
		if (!isprint((unsigned char)*p))
			*p = '?';
	if (r->status == 401)
		hint = " (the ACTIONS_RUNTIME_TOKEN was refused: it is only valid during its job)";
	else if (r->status == 403)
		hint = " (the token may not write the cache here: pull requests from forks "
		       "and read-only cache policies cannot save)";
	else if (r->status == 429)
		hint = " (rate limited: the service takes about 200 new entries a minute per "
		       "repository; set CICACHE_GHA_TRIES for more patience)";
	cc_err_set(err, CC_ESTORE, 0, "gha cache service: cannot %s: HTTP %ld%s%s%s%s%s", what,
		   r->status, code.len ? " " : "", code.data, msg.len ? ": " : "", msg.data, hint);
	buf_release(&code);
	buf_release(&msg);
	return CC_ESTORE;
}

/* POSTs body to method; a 2xx answer lands in out.  @return CC_OK with
 * resp->status set (any status), or a transport error. */
static enum cc_code twirp(struct gha *g, const char *method, const struct buf *body,
			  struct buf *out, struct http_resp *resp, struct cc_err *err)
{
	struct buf url = BUF_INIT;
	struct http_req q;
	enum cc_code rc;

	if ((rc = buf_addf(&url, err, "%s%s%s", g->base, TWIRP_PATH, method)))
		return rc;
	http_req_init(&q);
	q.method = "POST";
	q.url = url.data;
	q.sign = sign_twirp;
	q.sign_ctx = g;
	q.body = body->data;
	q.body_len = body->len;
	q.out = out;
	rc = http_do(g->http, &q, resp, err);
	if (rc)
		cc_err_prefix(err, "gha cache service");
	buf_release(&url);
	return rc;
}

/* ------------------------------------------------------------- entries */

/* The entry key prefix of an object: "P" name "/".  @return false when
 * no entry of it can exist (too long for the service). */
/* Appends "P" name, with every ',' as ' ': the service refuses keys with
 * ',', which E (key.h) writes, and ' ' is in no object name (E escapes
 * it, and keys never held one before E), so the mapping is one to one,
 * keeps prefixes and changes no name saved before it. */
static enum cc_code entry_name(struct gha *g, const char *name, struct buf *ret,
			       struct cc_err *err)
{
	size_t start = ret->len + strlen(g->prefix);
	enum cc_code rc;

	if ((rc = buf_addf(ret, err, "%s%s", g->prefix, name)))
		return rc;
	for (char *p = ret->data + start; (p = strchr(p, ',')); p++)
		*p = ' ';
	return CC_OK;
}

static bool entry_prefix(struct gha *g, const char *name, struct buf *ret)
{
	buf_reset(ret);
	if (entry_name(g, name, ret, NULL) || buf_addstr(ret, "/", NULL))
		return false;
	return cc_key_length(ret->data, ret->len) + 1 <= ENTRY_KEY_MAX;
}

/* Maps an entry key back: object name and time.  @return false for
 * entries that are not ours. */
static bool entry_parse(struct gha *g, const char *ekey, struct buf *ret_name,
			int64_t *ret_mtime)
{
	size_t plen = strlen(g->prefix);
	const char *slash = strrchr(ekey, '/'), *p;
	int64_t t = 0;

	if (strncmp(ekey, g->prefix, plen) || !slash || slash <= ekey + plen || !slash[1] ||
	    strlen(slash + 1) > 19)
		return false;
	for (p = slash + 1; *p; p++) {
		if (!isdigit((unsigned char)*p))
			return false;
		t = t * 10 + (*p - '0');
	}
	buf_reset(ret_name);
	if (buf_add(ret_name, ekey + plen, (size_t)(slash - ekey - (ptrdiff_t)plen), NULL) ||
	    strchr(ret_name->data, ','))
		return false;
	for (char *q = ret_name->data; (q = strchr(q, ' ')); q++)
		*q = ',';
	*ret_mtime = t;
	return true;
}

/* Asks for the newest entry whose key starts with "P" prefix.  With exact,
 * prefix is a whole object name.  @return CC_OK with *ret_found; on a hit
 * ret_url (signed, may be NULL) and ret_name/ret_mtime are set. */
static enum cc_code lookup_raw(struct gha *g, const char *prefix, bool exact, bool *ret_found,
			       struct buf *ret_url, struct buf *ret_name, int64_t *ret_mtime,
			       struct cc_err *err)
{
	struct buf ek = BUF_INIT, body = BUF_INIT, out = BUF_INIT, v = BUF_INIT;
	struct http_resp r;
	enum cc_code rc = CC_OK;

	*ret_found = false;
	buf_init(&out, TWIRP_BODY_MAX);
	buf_init(&v, TWIRP_BODY_MAX);
	http_resp_init(&r);
	if (exact) {
		if (!entry_prefix(g, prefix, &ek))
			goto cleanup;	/* too long to exist */
	} else if ((rc = entry_name(g, prefix, &ek, err))) {
		goto cleanup;
	}
	if (cc_key_length(ek.data, ek.len) > ENTRY_KEY_MAX)
		goto cleanup;
	/* No entry key is a bare prefix, so the exact match on key never
	 * hits: the restore key gives the newest entry that starts with it. */
	if ((rc = json_body(&body, err, "{s:s,s:[s],s:s}", "key", ek.data, "restore_keys", ek.data,
			    "version", g->version)))
		goto cleanup;
	if ((rc = twirp(g, "GetCacheEntryDownloadURL", &body, &out, &r, err)))
		goto cleanup;
	if (r.status != 200) {
		struct buf what = BUF_INIT;

		buf_addf(&what, NULL, "look up '%s'", prefix);
		rc = twirp_fail(what.data, &r, err);
		buf_release(&what);
		goto cleanup;
	}
	if (!json_get(&out, "ok", NULL, &v) || strcmp(v.data, "true"))
		goto cleanup;	/* a miss */
	if (!json_get(&out, "matched_key", "matchedKey", &v) ||
	    !entry_parse(g, v.data, ret_name, ret_mtime) ||
	    (exact && strcmp(ret_name->data, prefix))) {
		cc_debug("gha: lookup of '%s' matched a foreign entry; ignored", prefix);
		goto cleanup;
	}
	if (ret_url && (!json_get(&out, "signed_download_url", "signedDownloadUrl", ret_url) ||
			(strncmp(ret_url->data, "https://", 8) &&
			 strncmp(ret_url->data, "http://", 7)))) {
		rc = cc_err_set(err, CC_ESTORE, 0,
				"gha cache service: no usable download URL for '%s'", prefix);
		goto cleanup;
	}
	*ret_found = true;
cleanup:
	http_resp_release(&r);
	buf_release(&ek);
	buf_release(&body);
	buf_release(&out);
	buf_release(&v);
	return rc;
}

static void cache_forget(struct gha *g, const char *name)
{
	pthread_mutex_lock(&g->mu);
	for (int i = 0; i < URL_CACHE; i++)
		if (g->urls[i].name && !strcmp(g->urls[i].name, name))
			url_slot_clear(&g->urls[i]);
	pthread_mutex_unlock(&g->mu);
}

/* The signed URL of object name (cached for URL_TTL_MS; fresh is true to
 * skip the cache).  Misses are not cached: a save may create the object. */
static enum cc_code lookup(struct gha *g, const char *name, bool fresh, bool *ret_found,
			   struct buf *ret_url, int64_t *ret_mtime, struct cc_err *err)
{
	struct buf n = BUF_INIT;
	uint64_t now = now_ms();
	struct url_slot *victim = &g->urls[0];
	enum cc_code rc;
	int64_t mtime = 0;

	*ret_found = false;
	pthread_mutex_lock(&g->mu);
	for (int i = 0; i < URL_CACHE && !fresh; i++) {
		struct url_slot *u = &g->urls[i];

		if (u->name && !strcmp(u->name, name) && now - u->at_ms < URL_TTL_MS) {
			rc = buf_addstr(ret_url, u->url, err);
			*ret_mtime = u->mtime_ns;
			*ret_found = !rc;
			pthread_mutex_unlock(&g->mu);
			return rc;
		}
	}
	pthread_mutex_unlock(&g->mu);
	if ((rc = lookup_raw(g, name, true, ret_found, ret_url, &n, &mtime, err)) || !*ret_found)
		goto cleanup;
	*ret_mtime = mtime;
	pthread_mutex_lock(&g->mu);
	for (int i = 0; i < URL_CACHE; i++) {
		struct url_slot *u = &g->urls[i];

		if (u->name && !strcmp(u->name, name)) {
			victim = u;
			break;
		}
		if (!u->name || u->at_ms < victim->at_ms)
			victim = u;
	}
	url_slot_clear(victim);
	victim->name = strdup(name);
	victim->url = strdup(ret_url->data);
	victim->mtime_ns = mtime;
	victim->at_ms = now;
	if (!victim->name || !victim->url)
		url_slot_clear(victim);	/* only a cache */
	pthread_mutex_unlock(&g->mu);
cleanup:
	buf_release(&n);
	return rc;
}

/* ---------------------------------------------------------- Azure Blob */

static enum cc_code sign_blob(void *ctx, struct http_headers *h, struct cc_err *err)
{
	const char *blob_type = ctx;
	enum cc_code rc = http_header_add(h, "x-ms-version", AZURE_VERSION, err);

	if (!rc && blob_type)
		rc = http_header_add(h, "x-ms-blob-type", blob_type, err);
	return rc;
}

/* Words a failed blob request from its Azure XML error. */
static enum cc_code blob_fail(const char *what, const char *name, const struct http_resp *r,
			      struct cc_err *err)
{
	char code[128], msg[1];

	xml_error_words(r->err_body.data, r->err_body.len, code, sizeof(code), msg, sizeof(msg));
	return cc_err_set(err, CC_ESTORE, 0, "gha cache blob storage: cannot %s '%s': HTTP %ld%s%s%s",
			  what, name, r->status, code[0] ? " (" : "", code, code[0] ? ")" : "");
}

static bool url_append(struct buf *b, const char *base, const char *query)
{
	return !buf_addf(b, NULL, "%s%c%s", base, strchr(base, '?') ? '&' : '?', query);
}

static enum cc_code upload_single(struct gha *g, const char *url, const char *name, int fd,
				  uint64_t size, struct cc_err *err)
{
	struct http_req q;
	struct http_resp r;
	enum cc_code rc;

	http_req_init(&q);
	http_resp_init(&r);
	q.method = "PUT";
	q.url = url;
	q.sign = sign_blob;
	q.sign_ctx = (void *)"BlockBlob";
	q.body_fd = fd;
	q.body_len = size;
	rc = http_do(g->http, &q, &r, err);
	if (!rc && r.status != 201 && r.status != 200)
		rc = blob_fail("upload", name, &r, err);
	http_resp_release(&r);
	return rc;
}

/* Block i's id: base64 of "cicache-block-%08u" (22 bytes: all ids the
 * same length, as Azure requires), percent-encoded for the query. */
static void block_id(unsigned i, char raw[33], char enc[64])
{
	char id[32];
	size_t o = 0;

	snprintf(id, sizeof(id), "cicache-block-%08u", i);
	EVP_EncodeBlock((unsigned char *)raw, (const unsigned char *)id, (int)strlen(id));
	for (const char *p = raw; *p; p++) {
		if (*p == '+' || *p == '/' || *p == '=')
			o += (size_t)snprintf(enc + o, 64 - o, "%%%02X", (unsigned char)*p);
		else
			enc[o++] = *p;
	}
	enc[o] = '\0';
}

static enum cc_code upload_blocks(struct store *s, const char *url, const char *name, int fd,
				  uint64_t size, struct cc_err *err)
{
	struct gha *g = s->priv;
	uint64_t bs = s->part_size ? s->part_size : BLOCK_SIZE;
	size_t n, i;
	struct http_job *jobs = NULL;
	struct http_req *reqs = NULL;
	struct http_resp *resps = NULL;
	struct buf *urls = NULL, list = BUF_INIT, lurl = BUF_INIT;
	enum cc_code rc = CC_OK;

	if ((size + bs - 1) / bs > MAX_BLOCKS)
		bs = (size + MAX_BLOCKS - 1) / MAX_BLOCKS;
	n = (size_t)((size + bs - 1) / bs);
	jobs = calloc(n, sizeof(*jobs));
	reqs = calloc(n, sizeof(*reqs));
	resps = calloc(n, sizeof(*resps));
	urls = calloc(n, sizeof(*urls));
	if (!jobs || !reqs || !resps || !urls) {
		rc = cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
		goto cleanup;
	}
	for (i = 0; i < n; i++) {
		buf_init(&urls[i], 0);
		http_resp_init(&resps[i]);
	}
	if ((rc = buf_addstr(&list, "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>", err)))
		goto cleanup;
	for (i = 0; i < n; i++) {
		char raw[33], enc[64], q[128];

		block_id((unsigned)i, raw, enc);
		snprintf(q, sizeof(q), "comp=block&blockid=%s", enc);
		if (!url_append(&urls[i], url, q)) {
			rc = cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
			goto cleanup;
		}
		if ((rc = buf_addf(&list, err, "<Latest>%s</Latest>", raw)))
			goto cleanup;
		http_req_init(&reqs[i]);
		reqs[i].method = "PUT";
		reqs[i].url = urls[i].data;
		reqs[i].sign = sign_blob;
		reqs[i].body_fd = fd;
		reqs[i].body_off = i * bs;
		reqs[i].body_len = size - i * bs < bs ? size - i * bs : bs;
		jobs[i].req = &reqs[i];
		jobs[i].resp = &resps[i];
	}
	if ((rc = buf_addstr(&list, "</BlockList>", err)))
		goto cleanup;
	http_run(g->http, jobs, n, s->jobs > 0 ? s->jobs : 1);
	for (i = 0; i < n && !rc; i++) {
		if (jobs[i].rc) {
			rc = jobs[i].rc;
			*err = jobs[i].err;
		} else if (resps[i].status != 201 && resps[i].status != 200) {
			rc = blob_fail("upload a block of", name, &resps[i], err);
		}
	}
	if (rc)
		goto cleanup;
	cc_debug("gha: uploaded %zu blocks of '%s'", n, name);
	if (!url_append(&lurl, url, "comp=blocklist")) {
		rc = cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
		goto cleanup;
	}
	{
		struct http_req q;
		struct http_resp r;

		http_req_init(&q);
		http_resp_init(&r);
		q.method = "PUT";
		q.url = lurl.data;
		q.sign = sign_blob;
		q.body = list.data;
		q.body_len = list.len;
		rc = http_do(g->http, &q, &r, err);
		if (!rc && r.status != 201 && r.status != 200)
			rc = blob_fail("commit the blocks of", name, &r, err);
		http_resp_release(&r);
	}
cleanup:
	for (i = 0; urls && resps && i < n; i++) {
		http_resp_release(&resps[i]);
		buf_release(&urls[i]);
	}
	free(jobs);
	free(reqs);
	free(resps);
	free(urls);
	buf_release(&list);
	buf_release(&lurl);
	return rc;
}

/* ----------------------------------------------------------- store ops */

static enum cc_code gha_prepare_write(struct store *s, struct cc_err *err)
{
	/* Nothing to create, and the service has no call that checks write
	 * access without creating an entry: the first put tells. */
	return CC_OK;
}

/* CreateCacheEntry for ekey.  @return CC_OK with *ret_exists (409 or an
 * "already exists" refusal) or the signed upload URL in ret_url. */
static enum cc_code create_entry(struct gha *g, const char *ekey, const char *name,
				 bool *ret_exists, struct buf *ret_url, struct cc_err *err)
{
	struct buf body = BUF_INIT, out = BUF_INIT, v = BUF_INIT, what = BUF_INIT;
	struct http_resp r;
	enum cc_code rc;

	*ret_exists = false;
	buf_init(&out, TWIRP_BODY_MAX);
	buf_init(&v, TWIRP_BODY_MAX);
	http_resp_init(&r);
	buf_addf(&what, NULL, "reserve an entry for '%s'", name);
	if ((rc = json_body(&body, err, "{s:s,s:s}", "key", ekey, "version", g->version)) ||
	    (rc = twirp(g, "CreateCacheEntry", &body, &out, &r, err)))
		goto cleanup;
	if (r.status == 409) {
		*ret_exists = true;
		goto cleanup;
	}
	if (r.status != 200) {
		rc = twirp_fail(what.data, &r, err);
		goto cleanup;
	}
	if (!json_get(&out, "ok", NULL, &v) || strcmp(v.data, "true")) {
		json_get(&out, "message", NULL, &v);
		for (char *p = v.data; *p; p++)
			if (!isprint((unsigned char)*p))
				*p = '?';
		if (strstr(v.data, "already exists")) {
			*ret_exists = true;
			goto cleanup;
		}
		rc = cc_err_set(err, CC_ESTORE, 0, "gha cache service: cannot %s: %s", what.data,
				v.len ? v.data : "refused without a reason");
		goto cleanup;
	}
	if (!json_get(&out, "signed_upload_url", "signedUploadUrl", ret_url) ||
	    (strncmp(ret_url->data, "https://", 8) && strncmp(ret_url->data, "http://", 7)))
		rc = cc_err_set(err, CC_ESTORE, 0, "gha cache service: cannot %s: no upload URL",
				what.data);
cleanup:
	http_resp_release(&r);
	buf_release(&body);
	buf_release(&out);
	buf_release(&v);
	buf_release(&what);
	return rc;
}

static enum cc_code finalize_entry(struct gha *g, const char *ekey, const char *name,
				   uint64_t size, struct cc_err *err)
{
	struct buf body = BUF_INIT, out = BUF_INIT, v = BUF_INIT, what = BUF_INIT;
	struct http_resp r;
	char size_s[24];
	enum cc_code rc;

	buf_init(&out, TWIRP_BODY_MAX);
	buf_init(&v, TWIRP_BODY_MAX);
	http_resp_init(&r);
	buf_addf(&what, NULL, "finalize the entry of '%s'", name);
	/* twirp's JSON spells an int64 as a string. */
	snprintf(size_s, sizeof(size_s), "%" PRIu64, size);
	if ((rc = json_body(&body, err, "{s:s,s:s,s:s}", "key", ekey, "size_bytes", size_s,
			    "version", g->version)) ||
	    (rc = twirp(g, "FinalizeCacheEntryUpload", &body, &out, &r, err)))
		goto cleanup;
	if (r.status != 200) {
		rc = twirp_fail(what.data, &r, err);
		goto cleanup;
	}
	if (!json_get(&out, "ok", NULL, &v) || strcmp(v.data, "true")) {
		json_get(&out, "message", NULL, &v);
		for (char *p = v.data; *p; p++)
			if (!isprint((unsigned char)*p))
				*p = '?';
		rc = cc_err_set(err, CC_ESTORE, 0, "gha cache service: cannot %s: %s", what.data,
				v.len ? v.data : "refused without a reason");
	}
cleanup:
	http_resp_release(&r);
	buf_release(&body);
	buf_release(&out);
	buf_release(&v);
	buf_release(&what);
	return rc;
}

static size_t gha_name_max(struct store *s, bool *ret_utf16)
{
	struct gha *g = s->priv;
	size_t p = cc_key_length(g->prefix, strlen(g->prefix)) + ENTRY_SUFFIX_MAX;

	*ret_utf16 = true;
	return p < ENTRY_KEY_MAX ? ENTRY_KEY_MAX - p : 0;
}

static enum cc_code gha_put(struct store *s, const char *name, const char *src, unsigned flags,
			    bool *ret_existed, struct cc_err *err)
{
	struct gha *g = s->priv;
	struct buf ekey = BUF_INIT, url = BUF_INIT;
	bool content_named = !strncmp(name, STORE_PACKS_PREFIX, strlen(STORE_PACKS_PREFIX));
	bool first_wins = content_named || (flags & STORE_PUT_IF_ABSENT);
	bool exists = false;
	struct stat st;
	enum cc_code rc = CC_OK;
	int fd = -1;

	if (ret_existed)
		*ret_existed = false;
	fd = open(src, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		rc = cc_err_set(err, CC_ESTORE, errno, "cannot open '%s'", src);
		goto cleanup;
	}
	for (int attempt = 0;; attempt++) {
		if (!entry_prefix(g, name, &ekey) ||
		    (first_wins && !attempt ? buf_addstr(&ekey, "0", err) :
		     buf_addf(&ekey, err, "%019" PRId64, now_realtime_ns())) ||
		    cc_key_length(ekey.data, ekey.len) > ENTRY_KEY_MAX) {
			/* store_check_key refuses such keys first; this guards
			 * the other objects. */
			rc = cc_err_set(err, CC_EUSAGE, 0,
					"'%s' is too long for the gha store: entry keys are at most "
					"%d characters, so object names at most %zu", name,
					ENTRY_KEY_MAX, gha_name_max(s, &(bool){ false }));
			goto cleanup;
		}
		buf_reset(&url);
		if ((rc = create_entry(g, ekey.data, name, &exists, &url, err)))
			goto cleanup;
		if (!exists)
			break;
		if (flags & STORE_PUT_IF_ABSENT) {
			/* First writer wins, even one still uploading. */
			if (ret_existed)
				*ret_existed = true;
			goto cleanup;
		}
		if (content_named && !attempt) {
			bool found;
			int64_t t;
			struct buf u = BUF_INIT;

			rc = lookup(g, name, true, &found, &u, &t, err);
			secret_free(buf_detach(&u, NULL));
			if (rc)
				goto cleanup;
			if (found) {
				if (ret_existed)
					*ret_existed = true;
				goto cleanup;
			}
			/* Reserved but never finished (a killed save, or one
			 * uploading right now): upload a copy of our own. */
			cc_debug("gha: '%s' is reserved but not visible; uploading a copy", name);
		}
		if (attempt >= 2) {
			rc = cc_err_set(err, CC_ESTORE, 0,
					"gha cache service: cannot reserve an entry for '%s': "
					"it keeps existing", name);
			goto cleanup;
		}
	}
	if ((uint64_t)st.st_size <= SINGLE_MAX)
		rc = upload_single(g, url.data, name, fd, (uint64_t)st.st_size, err);
	else
		rc = upload_blocks(s, url.data, name, fd, (uint64_t)st.st_size, err);
	if (rc || (rc = finalize_entry(g, ekey.data, name, (uint64_t)st.st_size, err)))
		goto cleanup;
	cc_debug("gha: saved '%s' as entry '%s' (%lld bytes)", name, ekey.data,
		 (long long)st.st_size);
cleanup:
	if (!rc) {	/* saved now, or by a first writer */
		cache_forget(g, name);
		known_put(g, name);
		if (flags & STORE_PUT_MOVE)
			unlink(src);
	}
	if (fd >= 0)
		close(fd);
	buf_release(&ekey);
	OPENSSL_cleanse(url.data, url.len);
	buf_release(&url);
	return rc;
}

/* Reads n spans (store_get_spans) in parallel, one GET each.  A 403 (the
 * signed URL expired) looks the object up again, once. */
static enum cc_code gha_get_spans(struct store *s, const struct store_span *sp, size_t n,
				  struct cc_err *err)
{
	struct gha *g = s->priv;
	struct http_job *jobs = calloc(n ? n : 1, sizeof(*jobs));
	struct http_req *reqs = calloc(n ? n : 1, sizeof(*reqs));
	struct http_resp *resps = calloc(n ? n : 1, sizeof(*resps));
	struct buf *urls = calloc(n ? n : 1, sizeof(*urls));
	size_t nu = 0;
	enum cc_code rc = CC_OK;

	if (!jobs || !reqs || !resps || !urls) {
		rc = cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
		goto cleanup;
	}
	for (; nu < n; nu++) {
		bool found;
		int64_t t;

		http_resp_init(&resps[nu]);
		buf_init(&urls[nu], 0);
		if ((rc = lookup(g, sp[nu].name, false, &found, &urls[nu], &t, err))) {
			nu++;
			goto cleanup;
		}
		if (!found) {
			rc = cc_err_set(err, CC_ECORRUPT, 0, "object '%s' is missing from the store",
					sp[nu].name);
			nu++;
			goto cleanup;
		}
		http_req_init(&reqs[nu]);
		reqs[nu].method = "GET";
		reqs[nu].url = urls[nu].data;
		reqs[nu].sign = sign_blob;
		reqs[nu].dst = sp[nu].dst;
		reqs[nu].dst_len = sp[nu].len;
		reqs[nu].cancel = sp[nu].cancel;
		reqs[nu].range_off = sp[nu].off;
		jobs[nu].req = &reqs[nu];
		jobs[nu].resp = &resps[nu];
	}
	http_run(g->http, jobs, n, s->jobs > 0 ? s->jobs : 1);
	for (size_t k = 0; k < n; k++) {
		bool found;
		int64_t t;

		if (jobs[k].rc || resps[k].status != 403)
			continue;
		/* An expired signature: a fresh URL, and this one again. */
		buf_reset(&urls[k]);
		if ((rc = lookup(g, sp[k].name, true, &found, &urls[k], &t, err)))
			goto cleanup;
		if (!found) {
			rc = cc_err_set(err, CC_ECORRUPT, 0, "object '%s' is missing from the store",
					sp[k].name);
			goto cleanup;
		}
		reqs[k].url = urls[k].data;
		http_run(g->http, &jobs[k], 1, 1);
	}
	for (size_t k = 0; k < n && !rc; k++) {
		const char *name = sp[k].name;
		long st = resps[k].status;

		if (jobs[k].rc) {
			rc = jobs[k].rc;
			*err = jobs[k].err;
			cc_err_prefix(err, "gha cache: reading '%s'", name);
		} else if (st == 404) {
			rc = cc_err_set(err, CC_ECORRUPT, 0, "object '%s' is missing from the store", name);
		} else if (st == 416) {
			rc = cc_err_set(err, CC_ECORRUPT, 0, "object '%s' is truncated", name);
		} else if (st != 206 && st != 200) {
			rc = blob_fail("read", name, &resps[k], err);
		}
	}
cleanup:
	for (size_t k = 0; k < nu; k++) {
		http_resp_release(&resps[k]);
		OPENSSL_cleanse(urls[k].data, urls[k].len);
		buf_release(&urls[k]);
	}
	free(jobs);
	free(reqs);
	free(resps);
	free(urls);
	return rc;
}

/* Adjacent ranges of one object (in the order given) share one GET of up
 * to COALESCE_MAX bytes. */
static enum cc_code gha_get_ranges(struct store *s, const struct store_range *rg, size_t n,
				   struct cc_err *err)
{
	return store_get_spans(s, rg, n, COALESCE_MAX, gha_get_spans, err);
}

static enum cc_code gha_get_range(struct store *s, const char *name, uint64_t off, size_t len,
				  void *dst, struct cc_err *err)
{
	struct store_range r = { name, off, len, dst, NULL };

	return gha_get_ranges(s, &r, 1, err);
}

static enum cc_code gha_get_file(struct store *s, const char *name, int fd, uint64_t max,
				 bool *ret_found, struct cc_err *err)
{
	struct gha *g = s->priv;
	struct buf url = BUF_INIT;
	struct http_req q;
	struct http_resp r;
	enum cc_code rc;
	int64_t t;

	*ret_found = false;
	http_resp_init(&r);
	for (int pass = 0; pass < 2; pass++) {
		bool found;

		buf_reset(&url);
		if ((rc = lookup(g, name, pass > 0, &found, &url, &t, err)) || !found)
			goto cleanup;
		http_req_init(&q);
		q.method = "GET";
		q.url = url.data;
		q.sign = sign_blob;
		q.out_fd = fd;
		q.out_max = max;
		if ((rc = http_do(g->http, &q, &r, err)))
			goto cleanup;
		if (r.status != 403)
			break;
	}
	if (r.status == 200)
		*ret_found = true;
	else if (r.status != 404)
		rc = blob_fail("read", name, &r, err);
cleanup:
	http_resp_release(&r);
	OPENSSL_cleanse(url.data, url.len);
	buf_release(&url);
	return rc;
}

static enum cc_code gha_stat(struct store *s, const char *name, bool *ret_found,
			     struct store_object *ret, struct cc_err *err)
{
	struct gha *g = s->priv;
	struct buf url = BUF_INIT;
	int64_t t = 0;
	enum cc_code rc;

	rc = lookup(g, name, false, ret_found, &url, &t, err);
	if (!rc && *ret_found && ret) {
		ret->name = name;
		ret->size = 0;	/* the service does not say */
		ret->mtime_ns = t;
	}
	OPENSSL_cleanse(url.data, url.len);
	buf_release(&url);
	return rc;
}

static enum cc_code gha_list(struct store *s, const char *prefix, store_list_fn fn, void *ctx,
			     struct cc_err *err)
{
	struct gha *g = s->priv;
	struct buf name = BUF_INIT;
	struct store_object o = { 0 };
	bool found;
	enum cc_code rc;

	/* The service answers one entry per question: the newest match. */
	rc = lookup_raw(g, prefix, false, &found, NULL, &name, &o.mtime_ns, err);
	if (!rc && found && !strncmp(name.data, prefix, strlen(prefix))) {
		o.name = name.data;
		fn(ctx, &o);
	}
	buf_release(&name);
	return rc;
}

/* ------------------------------------------------------------ REST API */

static enum cc_code sign_rest(void *ctx, struct http_headers *h, struct cc_err *err)
{
	struct gha *g = ctx;
	struct buf v = BUF_INIT;
	enum cc_code rc;

	if (!(rc = buf_addf(&v, err, "Bearer %s", g->api_token)))
		rc = http_header_add(h, "Authorization", v.data, err);
	if (!rc)
		rc = http_header_add(h, "Accept", "application/vnd.github+json", err);
	if (!rc)
		rc = http_header_add(h, "X-GitHub-Api-Version", REST_API_VERSION, err);
	if (!rc)
		rc = http_header_add(h, "User-Agent", "cicache", err);
	OPENSSL_cleanse(v.data, v.len);
	buf_release(&v);
	return rc;
}

/* Whether the REST API can be called at all: a token and "OWNER/REPO". */
static enum cc_code rest_ready(struct gha *g, const char *what, struct cc_err *err)
{
	const char *slash = g->repo ? strchr(g->repo, '/') : NULL;

	if (!g->api_token)
		return cc_err_set(err, CC_ESTORE, 0, "gha store: cannot %s: GITHUB_TOKEN is not set; "
				  REST_NO_TOKEN_HINT, what);
	if (!g->repo)
		return cc_err_set(err, CC_ESTORE, 0, "gha store: cannot %s: GITHUB_REPOSITORY "
				  "(OWNER/REPO) is not set", what);
	if (!slash || slash == g->repo || !slash[1] || strchr(slash + 1, '/') ||
	    strspn(g->repo, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_./") !=
	    strlen(g->repo))
		return cc_err_set(err, CC_ESTORE, 0, "gha store: GITHUB_REPOSITORY '%s' is not "
				  "OWNER/REPO", g->repo);
	if (strncmp(g->api, "https://", 8) && strncmp(g->api, "http://", 7))
		return cc_err_set(err, CC_ESTORE, 0, "gha store: GITHUB_API_URL must start with "
				  "http:// or https://");
	return CC_OK;
}

/* GitHub answers its rate limits with 403 (or 429) and a message that
 * says so: transient, unlike a 403 for a missing permission. */
static bool rest_retryable(long status, const struct buf *body)
{
	return status == 403 && strstr(body->data, "rate limit");
}

/* Words a failed REST call: "GitHub REST API: cannot WHAT: HTTP n: message". */
static enum cc_code rest_fail(struct gha *g, const char *what, const struct http_resp *r,
			      struct cc_err *err)
{
	struct buf msg = BUF_INIT;
	const char *hint = "";

	buf_init(&msg, 1024);
	json_get(&r->err_body, "message", NULL, &msg);
	for (char *p = msg.data; *p; p++)
		if (!isprint((unsigned char)*p))
			*p = '?';
	if (r->status == 401) {
		hint = " (GITHUB_TOKEN was refused)";
	} else if (r->status == 403 && strstr(msg.data, "rate limit")) {
		hint = " (rate limited: try again later)";
	} else if (r->status == 403) {
		hint = "; GITHUB_TOKEN lacks the permission: " REST_NO_TOKEN_HINT;
	} else if (r->status == 404) {
		hint = " (no such repository, or GITHUB_TOKEN may not see it)";
	}
	cc_err_set(err, CC_ESTORE, 0, "GitHub REST API: cannot %s in %s: HTTP %ld%s%s%s", what,
		   g->repo, r->status, msg.len ? ": " : "", msg.data, hint);
	buf_release(&msg);
	return CC_ESTORE;
}

/* The ids of one page of the listing. */
struct rest_ids {
	uint64_t v[REST_PER_PAGE];
	size_t n;
};

static bool rest_ids_has(const struct rest_ids *p, uint64_t id)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i] == id)
			return true;
	return false;
}

/* The id of element el of a REST listing: a number, or a string of
 * digits, of 64 bits at most.  v is scratch space. */
static bool rest_id(const json_t *el, struct buf *v, uint64_t *ret)
{
	char *end;

	if (!answer_json_member(el, "id", v) || !isdigit((unsigned char)v->data[0]))
		return false;
	errno = 0;
	*ret = strtoull(v->data, &end, 10);
	return !*end && !errno;
}

enum cc_code gha_rest_caches(const struct buf *body, size_t max, gha_rest_cache_fn fn,
			     void *ctx, uint64_t *ret_total, struct cc_err *err)
{
	struct buf key = BUF_INIT, version = BUF_INIT, v = BUF_INIT;
	json_t *root = NULL, *arr, *el;
	char why[80];
	size_t i;
	enum cc_code rc = CC_OK;

	*ret_total = 0;
	buf_init(&key, 4 * ENTRY_KEY_MAX);
	buf_init(&version, 256);
	buf_init(&v, 256);
	if (!(root = answer_json_load(body->data, body->len, REST_BODY_MAX, ANSWER_DEPTH, why,
				      sizeof(why)))) {
		rc = cc_err_set(err, CC_ESTORE, 0, "GitHub REST API: malformed list of caches: %s",
				why);
		goto cleanup;
	}
	if (!json_is_array(arr = json_object_get(root, "actions_caches"))) {
		rc = cc_err_set(err, CC_ESTORE, 0, "GitHub REST API: malformed list of caches");
		goto cleanup;
	}
	if (answer_json_member(root, "total_count", &v) && isdigit((unsigned char)v.data[0]))
		*ret_total = strtoull(v.data, NULL, 10);
	json_array_foreach(arr, i, el) {
		struct gha_rest_cache c = { 0 };

		/* More than we asked for, or no id. */
		if (i >= max || !rest_id(el, &v, &c.id)) {
			rc = cc_err_set(err, CC_ESTORE, 0,
					"GitHub REST API: malformed list of caches");
			goto cleanup;
		}
		/* A key or version too long for the service, or absent: "". */
		c.key = answer_json_member(el, "key", &key) ? key.data : "";
		c.version = answer_json_member(el, "version", &version) ? version.data : "";
		if (answer_json_member(el, "size_in_bytes", &v) && isdigit((unsigned char)v.data[0]))
			c.size = strtoull(v.data, NULL, 10);
		if (answer_json_member(el, "created_at", &v))
			c.created_ns = iso8601_ns(v.data);
		if (fn(ctx, &c))
			goto cleanup;
	}
cleanup:
	json_decref(root);
	buf_release(&key);
	buf_release(&version);
	buf_release(&v);
	return rc;
}

/* What one page adds to a listing. */
struct rest_page {
	struct gha *g;
	const char *prefix;
	struct rest_list *l;
	const struct rest_ids *prev;	/* the previous page's ids */
	struct rest_ids *ids;		/* this page's */
	size_t fresh;			/* ids not on the previous page */
	struct buf name;
	enum cc_code rc;
};

/* Adds a cache of the page to the listing if it is ours (our version, a
 * key that maps back to an object name starting with prefix) and not on
 * the previous page (entries deleted meanwhile shift the pages). */
static int rest_page_add(void *ctx, const struct gha_rest_cache *c)
{
	struct rest_page *pg = ctx;
	struct rest_list *l = pg->l;
	struct rest_entry e = { 0 };
	int64_t t;

	pg->ids->v[pg->ids->n++] = c->id;	/* at most REST_PER_PAGE: gha_rest_caches' max */
	if (rest_ids_has(pg->prev, c->id))
		return 0;
	pg->fresh++;
	if (strcmp(c->version, pg->g->version) || !entry_parse(pg->g, c->key, &pg->name, &t) ||
	    strncmp(pg->name.data, pg->prefix, strlen(pg->prefix)))
		return 0;	/* not ours: actions/cache's, or another namespace's */
	e.id = c->id;
	e.size = c->size;
	e.created_ns = c->created_ns;
	if (ARRAY_GROW(l->v, l->alloc, l->n + 1) || !(e.name = buf_detach(&pg->name, NULL))) {
		pg->rc = CC_ENOMEM;
		return 1;
	}
	l->v[l->n++] = e;
	return 0;
}

/* Lists every entry of ours whose object name starts with prefix (the
 * service filters by entry key prefix "P" prefix), page after page. */
static enum cc_code rest_list_entries(struct gha *g, const char *prefix, const char *what,
				      struct rest_list *l, struct cc_err *err)
{
	struct buf ek = BUF_INIT, url = BUF_INIT, out = BUF_INIT;
	struct http_resp r;
	enum cc_code rc;
	uint64_t total = 0;
	size_t seen = 0;
	/* This page's ids and the previous page's, alternating. */
	struct rest_ids *ids = calloc(2, sizeof(*ids));
	struct rest_page pg = { .g = g, .prefix = prefix, .l = l, .name = BUF_INIT };

	http_resp_init(&r);
	buf_init(&out, REST_BODY_MAX);
	if (!ids) {
		rc = cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
		goto cleanup;
	}
	if ((rc = rest_ready(g, what, err)) || (rc = entry_name(g, prefix, &ek, err)))
		goto cleanup;
	for (int page = 1;; page++) {
		struct http_req q;

		if (page > REST_PAGES_MAX) {
			rc = cc_err_set(err, CC_ESTORE, 0, "GitHub REST API: cannot %s: more than %d "
					"pages of caches", what, REST_PAGES_MAX);
			goto cleanup;
		}
		buf_reset(&url);
		buf_reset(&out);
		http_resp_release(&r);
		http_resp_init(&r);
		if ((rc = buf_addf(&url, err, "%s/repos/%s/actions/caches?key=", g->api, g->repo)) ||
		    (rc = sigv4_uri_encode(&url, ek.data, ek.len, false, err)) ||
		    (rc = buf_addf(&url, err, "&per_page=%d&page=%d&sort=created_at&direction=asc",
				   REST_PER_PAGE, page)))
			goto cleanup;
		if (g->ref && ((rc = buf_addstr(&url, "&ref=", err)) ||
			       (rc = sigv4_uri_encode(&url, g->ref, strlen(g->ref), false, err))))
			goto cleanup;
		http_req_init(&q);
		q.method = "GET";
		q.url = url.data;
		q.sign = sign_rest;
		q.sign_ctx = g;
		q.retryable = rest_retryable;
		q.out = &out;
		if ((rc = http_do(g->http, &q, &r, err))) {
			cc_err_prefix(err, "GitHub REST API");
			goto cleanup;
		}
		if (r.status != 200) {
			rc = rest_fail(g, what, &r, err);
			goto cleanup;
		}
		pg.prev = &ids[(page - 1) & 1];
		pg.ids = &ids[page & 1];
		pg.ids->n = pg.fresh = 0;
		if ((rc = gha_rest_caches(&out, REST_PER_PAGE, rest_page_add, &pg,
					  page == 1 ? &total : &(uint64_t){ 0 }, err)))
			goto cleanup;
		if (pg.rc) {
			rc = cc_err_set(err, pg.rc, ENOMEM, "cannot allocate");
			goto cleanup;
		}
		seen += pg.fresh;
		/* The last page is short (or empty); a full page of nothing
		 * new is a server that repeats itself (or a listing that
		 * lost 100 entries under us): the listing cannot be trusted.
		 * One that cycles through pages stops at REST_PAGES_MAX. */
		if (pg.ids->n < REST_PER_PAGE || (total && seen >= total))
			break;
		if (!pg.fresh) {
			rc = cc_err_set(err, CC_ESTORE, 0, "GitHub REST API: cannot %s: page %d "
					"repeats entries of earlier pages", what, page);
			goto cleanup;
		}
	}
cleanup:
	free(ids);
	buf_release(&pg.name);
	http_resp_release(&r);
	buf_release(&ek);
	buf_release(&url);
	buf_release(&out);
	return rc;
}

static int rest_entry_cmp(const void *a, const void *b)
{
	const struct rest_entry *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	/* Newest first within a name; the id breaks ties (later is newer). */
	if (x->created_ns != y->created_ns)
		return x->created_ns > y->created_ns ? -1 : 1;
	return x->id > y->id ? -1 : x->id < y->id;
}

static enum cc_code gha_list_all(struct store *s, const char *prefix, store_list_fn fn,
				 void *ctx, struct cc_err *err)
{
	struct gha *g = s->priv;
	struct rest_known *k = calloc(1, sizeof(*k));
	enum cc_code rc;

	if (!k || !(k->prefix = strdup(prefix))) {
		free(k);
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
	}
	if ((rc = rest_list_entries(g, prefix, "list the cache entries", &k->l, err))) {
		known_free(k);
		return rc;
	}
	k->at_ms = now_ms();
	if (k->l.n)
		qsort(k->l.v, k->l.n, sizeof(*k->l.v), rest_entry_cmp);
	for (size_t i = 0; i < k->l.n; i++) {
		struct store_object o = { 0 };

		if (i && !strcmp(k->l.v[i].name, k->l.v[i - 1].name))
			continue;	/* an older save of the same object */
		o.name = k->l.v[i].name;
		o.size = k->l.v[i].size;
		o.mtime_ns = k->l.v[i].created_ns;
		if (fn(ctx, &o))
			break;
	}
	pthread_mutex_lock(&g->mu);
	k->next = g->known;
	g->known = k;
	pthread_mutex_unlock(&g->mu);
	return CC_OK;
}

/* Notes that name was put after a listing (a prune's mark, put and
 * removed in one run): the listing does not know its entry. */
static void known_put(struct gha *g, const char *name)
{
	char **nv;
	char *copy = NULL;

	pthread_mutex_lock(&g->mu);
	if (!g->known)
		goto cleanup;
	nv = realloc(g->put_names, (g->n_put_names + 1) * sizeof(*nv));
	if (nv)
		g->put_names = nv;
	if (!nv || !(copy = strdup(name))) {
		/* Cannot remember it: trust no listing from now on. */
		known_free(g->known);
		g->known = NULL;
		goto cleanup;
	}
	g->put_names[g->n_put_names++] = copy;
cleanup:
	pthread_mutex_unlock(&g->mu);
}

/* The ids of name's entries as a fresh list_all saw them (into l).
 * @return false when no fresh listing covers name, or name was put
 * since. */
static bool known_ids(struct gha *g, const char *name, struct rest_list *l)
{
	bool covered = false;

	pthread_mutex_lock(&g->mu);
	for (size_t i = 0; i < g->n_put_names; i++)
		if (!strcmp(g->put_names[i], name)) {
			pthread_mutex_unlock(&g->mu);
			return false;
		}
	for (struct rest_known *k = g->known; k && !covered; k = k->next) {
		size_t lo = 0, hi = k->l.n;

		if (now_ms() - k->at_ms > KNOWN_TTL_MS ||
		    strncmp(name, k->prefix, strlen(k->prefix)))
			continue;
		covered = true;
		while (lo < hi) {	/* the first entry of name */
			size_t mid = lo + (hi - lo) / 2;

			if (strcmp(k->l.v[mid].name, name) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (; lo < k->l.n && !strcmp(k->l.v[lo].name, name); lo++) {
			struct rest_entry e = k->l.v[lo];

			if (ARRAY_GROW(l->v, l->alloc, l->n + 1)) {
				covered = false;	/* list again */
				break;
			}
			if (!(e.name = strdup(name))) {
				covered = false;
				break;
			}
			l->v[l->n++] = e;
		}
	}
	pthread_mutex_unlock(&g->mu);
	if (!covered)
		rest_list_release(l);
	return covered;
}

/* Removes every entry of object name (of GITHUB_REF's branch) that a fresh
 * list_all of this store saw (an entry a save made since then is kept:
 * that save wins), else every entry the service lists now.  Nothing to
 * remove is success, as with the other stores. */
static enum cc_code gha_del(struct store *s, const char *name, struct cc_err *err)
{
	struct gha *g = s->priv;
	struct rest_list l = { 0 };
	struct buf what = BUF_INIT, url = BUF_INIT;
	struct http_resp r;
	enum cc_code rc;

	http_resp_init(&r);
	buf_addf(&what, NULL, "remove '%s'", name);
	if ((rc = rest_ready(g, what.data, err)) ||
	    (!known_ids(g, name, &l) && (rc = rest_list_entries(g, name, what.data, &l, err))))
		goto cleanup;
	for (size_t i = 0; i < l.n; i++) {
		struct http_req q;

		if (strcmp(l.v[i].name, name))
			continue;	/* a longer name with this one as prefix */
		buf_reset(&url);
		http_resp_release(&r);
		http_resp_init(&r);
		if ((rc = buf_addf(&url, err, "%s/repos/%s/actions/caches/%" PRIu64, g->api,
				   g->repo, l.v[i].id)))
			goto cleanup;
		http_req_init(&q);
		q.method = "DELETE";
		q.url = url.data;
		q.sign = sign_rest;
		q.sign_ctx = g;
		q.retryable = rest_retryable;
		if ((rc = http_do(g->http, &q, &r, err))) {
			cc_err_prefix(err, "GitHub REST API");
			goto cleanup;
		}
		/* 404: evicted or removed meanwhile, which is what we want. */
		if (r.status != 204 && r.status != 200 && r.status != 404) {
			rc = rest_fail(g, what.data, &r, err);
			goto cleanup;
		}
		cc_debug("gha: removed entry %" PRIu64 " of '%s'", l.v[i].id, name);
	}
	cache_forget(g, name);
cleanup:
	http_resp_release(&r);
	rest_list_release(&l);
	buf_release(&what);
	buf_release(&url);
	return rc;
}

/* ----------------------------------------------- actions/cache entries */

static enum cc_code gha_legacy_lookup(struct store *s, const char *version, const char *key,
			       const char *const *restore_keys, size_t nrestore_keys,
			       bool *ret_found, struct buf *ret_key, struct buf *ret_url,
			       struct cc_err *err)
{
	struct gha *g = s->priv;
	struct buf body = BUF_INIT, out = BUF_INIT, v = BUF_INIT;
	struct http_resp r;
	enum cc_code rc;

	*ret_found = false;
	buf_init(&out, TWIRP_BODY_MAX);
	buf_init(&v, TWIRP_BODY_MAX);
	http_resp_init(&r);
	if ((rc = buf_addstr(&body, "{\"key\":", err)) || (rc = json_add_str(&body, key, err)) ||
	    (rc = buf_addstr(&body, ",\"restore_keys\":[", err)))
		goto cleanup;
	for (size_t i = 0; i < nrestore_keys; i++)
		if ((i && (rc = buf_addstr(&body, ",", err))) ||
		    (rc = json_add_str(&body, restore_keys[i], err)))
			goto cleanup;
	if ((rc = buf_addf(&body, err, "],\"version\":\"%s\"}", version)) ||
	    (rc = twirp(g, "GetCacheEntryDownloadURL", &body, &out, &r, err)))
		goto cleanup;
	if (r.status != 200) {
		rc = twirp_fail("look up actions/cache entries", &r, err);
		goto cleanup;
	}
	if (!json_get(&out, "ok", NULL, &v) || strcmp(v.data, "true"))
		goto cleanup;	/* a miss */
	if (!json_get(&out, "matched_key", "matchedKey", ret_key) || !ret_key->len ||
	    !json_get(&out, "signed_download_url", "signedDownloadUrl", ret_url) ||
	    (strncmp(ret_url->data, "https://", 8) && strncmp(ret_url->data, "http://", 7))) {
		rc = cc_err_set(err, CC_ESTORE, 0,
				"gha cache service: no usable key or download URL for an "
				"actions/cache entry of '%s'", key);
		goto cleanup;
	}
	*ret_found = true;
cleanup:
	http_resp_release(&r);
	buf_release(&body);
	buf_release(&out);
	buf_release(&v);
	return rc;
}

static enum cc_code gha_legacy_fetch(struct store *s, const char *url, const char *name, int fd,
			      uint64_t max, struct cc_err *err)
{
	struct gha *g = s->priv;
	struct http_req q;
	struct http_resp r;
	enum cc_code rc;

	http_req_init(&q);
	http_resp_init(&r);
	q.method = "GET";
	q.url = url;
	q.sign = sign_blob;
	q.out_fd = fd;
	q.out_max = max;
	rc = http_do(g->http, &q, &r, err);
	if (!rc && r.status != 200)
		rc = blob_fail("read", name, &r, err);
	http_resp_release(&r);
	return rc;
}

const struct store_ops store_gha = {
	.name = "gha",
	.caps = STORE_CAP_LIST_NEWEST | STORE_CAP_NO_SIZE | STORE_CAP_KEEPS_FIRST |
		STORE_CAP_REMOTE,
	.open = gha_open,
	.close = gha_close,
	.prepare_write = gha_prepare_write,
	.put = gha_put,
	.get_range = gha_get_range,
	.get_file = gha_get_file,
	.stat = gha_stat,
	.list = gha_list,
	.list_all = gha_list_all,
	.del = gha_del,
	.get_ranges = gha_get_ranges,
	.name_max = gha_name_max,
	.name_max_why = "the GitHub cache service's keys are at most 512 characters, and "
			"cicache's prefix, identity and timestamp take 51 of them, more "
			"with a namespace",
	.legacy_lookup = gha_legacy_lookup,
	.legacy_fetch = gha_legacy_fetch,
};
