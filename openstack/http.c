/* SPDX-License-Identifier: MIT */
/*
 * openstack/http.c: the only libcurl user.
 *
 * Owns one easy handle per client (keep-alive across requests), the retry
 * policy, the mapping of curl codes and HTTP statuses to struct error, and
 * the redaction of X-Auth-Token in debug output. Knows nothing about what
 * the services mean: keystone.c, cinder.c and nova.c build the requests
 * and read the answers.
 */
#include "openstack/http.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/param.h> /* MIN */
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "rbdmove/base/cancel.h"
#include "rbdmove/base/json.h"
#include "rbdmove/base/log.h"
#include "rbdmove/base/strutil.h"
#include "rbdmove/base/xalloc.h"

/* A response bigger than this is not an OpenStack answer we want. */
#define RESPONSE_MAX (32u << 20)
/* Back-off never sleeps longer than this between attempts. */
#define RETRY_DELAY_MAX 8.0
/* How much of a body debug output shows. */
#define DEBUG_BODY_MAX 2048

struct http_client {
    CURL *curl;
    char errbuf[CURL_ERROR_SIZE];
    char *cacert;
    bool insecure;
    long connect_timeout_ms;
    long timeout_ms;
    unsigned max_attempts;
    double retry_delay;
};

/* What the callbacks of one attempt fill. */
struct transfer {
    struct http_response *resp;
    bool too_large;
    double retry_after;
};

void http_response_release(struct http_response *resp)
{
    resp->status = 0;
    buf_release(&resp->body);
    freezero_str(resp->subject_token);
    resp->subject_token = NULL;
}

int http_client_new(const struct http_options *opts, struct http_client **out,
                    struct error *err)
{
    static const struct http_options defaults;
    struct http_client *c = NULL;
    CURLcode rc;
    int ret = -1;

    *out = NULL;
    if (!opts)
        opts = &defaults;
    if (opts->cacert && access(opts->cacert, R_OK) < 0) {
        return error_set(err, ERROR_USAGE, errno,
                         "cannot read CA certificate file '%s': %s",
                         opts->cacert, strerror(errno));
    }
    rc = curl_global_init(CURL_GLOBAL_DEFAULT); /* reference counted */
    if (rc != CURLE_OK) {
        return error_set(err, ERROR_HTTP, (int)rc, "cannot start libcurl: %s",
                         curl_easy_strerror(rc));
    }
    c = xcalloc(1, sizeof(*c));
    c->curl = curl_easy_init();
    if (!c->curl) {
        error_set(err, ERROR_HTTP, (int)CURLE_FAILED_INIT,
                  "cannot create a libcurl handle");
        goto out;
    }
    c->cacert = xstrdup(opts->cacert);
    c->insecure = opts->insecure;
    c->connect_timeout_ms =
        opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : 10000;
    c->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : 120000;
    c->max_attempts = opts->max_attempts > 0 ? opts->max_attempts : 4;
    c->retry_delay = opts->retry_delay > 0 ? opts->retry_delay : 0.5;

    *out = c;
    c = NULL;
    ret = 0;
out:
    http_client_free(c); /* also balances curl_global_init */
    return ret;
}

void http_client_free(struct http_client *c)
{
    if (!c)
        return;
    if (c->curl)
        curl_easy_cleanup(c->curl);
    free(c->cacert);
    free(c);
    curl_global_cleanup();
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ctx)
{
    struct transfer *t = ctx;
    size_t len = size * nmemb;

    if (t->resp->body.len + len > RESPONSE_MAX) {
        t->too_large = true;
        return 0; /* makes curl fail with CURLE_WRITE_ERROR */
    }
    buf_add(&t->resp->body, data, len);
    return len;
}

/* The value of "Name: value\r\n" when line is that header, else NULL. */
static char *header_value(const char *line, size_t len, const char *name)
{
    size_t n = strlen(name);
    const char *v;
    const char *end = line + len;

    if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
        return NULL;
    v = line + n + 1;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && isspace((unsigned char)end[-1]))
        end--;
    return xstrndup(v, (size_t)(end - v));
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ctx)
{
    struct transfer *t = ctx;
    size_t len = size * nmemb;
    char *v;

    /* A status line starts a new header block (1xx, then the real one). */
    if (len > 5 && !strncmp(data, "HTTP/", 5)) {
        freezero_str(t->resp->subject_token);
        t->resp->subject_token = NULL;
        t->retry_after = 0;
        return len;
    }
    v = header_value(data, len, "X-Subject-Token");
    if (v) {
        freezero_str(t->resp->subject_token);
        t->resp->subject_token = v;
        return len;
    }
    v = header_value(data, len, "Retry-After");
    if (v) {
        char *end = NULL;
        double s = strtod(v, &end);

        if (end != v && *end == '\0' && s > 0)
            t->retry_after = s;
        free(v);
    }
    return len;
}

static bool method_is_idempotent(const char *method)
{
    return !strcmp(method, "GET") || !strcmp(method, "HEAD") ||
           !strcmp(method, "PUT") || !strcmp(method, "DELETE");
}

/* Curl failures worth another attempt. A request that never reached the
 * server can always be repeated; one that may have been processed only
 * when repeating it is harmless. */
static bool curl_code_is_retryable(CURLcode rc, const char *method)
{
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return true;
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
        return method_is_idempotent(method);
    default:
        return false;
    }
}

/* A 502, 503 or 504 may come from a proxy or load balancer after the
 * service took the request: repeating a POST (a volume create, an attach)
 * could do it twice. Its caller checks whether it took effect instead. */
static bool status_is_retryable(long status, const char *method)
{
    return (status == 502 || status == 503 || status == 504) &&
           method_is_idempotent(method);
}

/* The request's URL as it may be shown (url_redact), in a buffer of the
 * caller's. */
#define SHOWN(req, buf) url_redact((req)->url, buf, sizeof(buf))

static void debug_request(const struct http_request *req)
{
    char u[1024];

    if (log_get_level() < LOG_LEVEL_DEBUG)
        return;
    log_debug("%s %s", req->method, SHOWN(req, u));
    if (req->token)
        log_debug("  X-Auth-Token: <redacted>");
    for (size_t i = 0; i < HTTP_MAX_HEADERS && req->headers[i]; i++)
        log_debug("  %s", req->headers[i]);
    if (req->body && req->secret_body)
        log_debug("  body: <%zu bytes, redacted>", req->body_len);
    else if (req->body)
        log_debug("  body: %.*s", (int)MIN(req->body_len, DEBUG_BODY_MAX),
                  req->body);
}

static void debug_response(const struct http_request *req,
                           const struct http_response *resp, double secs)
{
    char u[1024];

    if (log_get_level() < LOG_LEVEL_DEBUG)
        return;
    log_debug("%ld from %s %s (%zu bytes, %.3f s)%s", resp->status, req->method,
              SHOWN(req, u), resp->body.len, secs,
              resp->subject_token ? ", X-Subject-Token: <redacted>" : "");
    if (resp->body.len)
        log_debug("  body: %.*s", (int)MIN(resp->body.len, DEBUG_BODY_MAX),
                  buf_str(&resp->body));
}

static struct curl_slist *build_headers(const struct http_request *req,
                                        struct buf *token_header)
{
    struct curl_slist *h = NULL;

    h = curl_slist_append(h, "Accept: application/json");
    if (req->body)
        h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "Expect:"); /* no 100-continue round trip */
    for (size_t i = 0; i < HTTP_MAX_HEADERS && req->headers[i]; i++)
        h = curl_slist_append(h, req->headers[i]);
    if (req->token) {
        buf_addf(token_header, "X-Auth-Token: %s", req->token);
        h = curl_slist_append(h, token_header->data);
    }
    return h;
}

static void set_method(CURL *curl, const struct http_request *req)
{
    if (!strcmp(req->method, "GET")) {
        curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    } else if (!strcmp(req->method, "HEAD")) {
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    } else {
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req->method);
        if (req->body || !strcmp(req->method, "POST")) {
            /* Not COPYPOSTFIELDS: a password body stays in one place,
             * the caller's, which wipes it. */
            curl_easy_setopt(curl, CURLOPT_POSTFIELDS,
                             req->body ? req->body : "");
            curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                             (curl_off_t)(req->body ? req->body_len : 0));
        }
    }
}

/* CURLOPT_XFERINFOFUNCTION: called at least once a second while a request
 * waits; a stop asked for ends it (CURLE_ABORTED_BY_CALLBACK). */
static int on_progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow,
                       curl_off_t ultotal, curl_off_t ulnow)
{
    (void)ctx;
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return cancel_requested() ? 1 : 0;
}

/* Configure the handle for one attempt. curl_easy_reset keeps the
 * connection cache, so keep-alive survives it. */
static void setup(struct http_client *c, const struct http_request *req,
                  struct curl_slist *headers, struct transfer *t)
{
    CURL *curl = c->curl;

    curl_easy_reset(curl);
    c->errbuf[0] = '\0';
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(curl, CURLOPT_URL, req->url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    /* libcurl silently sends a request again when a reused connection
     * dies before the answer: for a POST (a volume create) that would do
     * it twice, so those go over a connection of their own (t52). */
    if (!method_is_idempotent(req->method)) {
        curl_easy_setopt(curl, CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt(curl, CURLOPT_FORBID_REUSE, 1L);
    }
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "rbdmove/" RBDMOVE_VERSION);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");
    if (c->cacert)
        curl_easy_setopt(curl, CURLOPT_CAINFO, c->cacert);
    if (c->insecure) {
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    set_method(curl, req);
}

void http_sleep(double s)
{
    /* Cut short by a stop (cancel.h): the next request then says so. */
    (void)cancel_sleep(s);
}

static int interrupted(const struct http_request *req, struct error *err)
{
    char u[1024];

    return error_set(err, ERROR_INTERRUPTED, 0, "%s %s: stopped by signal %d",
                     req->method, SHOWN(req, u), cancel_signal());
}

static int transport_error(struct http_client *c,
                           const struct http_request *req, CURLcode rc,
                           bool too_large, struct error *err)
{
    const char *text = c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc);
    char u[1024];

    SHOWN(req, u);
    if (too_large) {
        return error_set(err, ERROR_PROTOCOL, 0,
                         "%s %s: response larger than %u bytes", req->method, u,
                         RESPONSE_MAX);
    }
    if (rc == CURLE_PEER_FAILED_VERIFICATION ||
        rc == CURLE_SSL_CACERT_BADFILE) {
        return error_set(err, ERROR_HTTP, (int)rc,
                         "%s %s: %s (give the CA with --os-cacert, or "
                         "--insecure to skip the check)",
                         req->method, u, text);
    }
    return error_set(err, ERROR_HTTP, (int)rc, "%s %s: %s", req->method, u,
                     text);
}

/* One attempt. Returns the curl code; *retry_after gets Retry-After. */
static CURLcode attempt(struct http_client *c, const struct http_request *req,
                        struct http_response *resp, bool *too_large,
                        double *retry_after)
{
    struct transfer t = {resp, false, 0};
    struct buf token_header = BUF_INIT;
    struct curl_slist *headers = build_headers(req, &token_header);
    double start = time_now();
    CURLcode rc;

    setup(c, req, headers, &t);
    rc = curl_easy_perform(c->curl);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &resp->status);
    curl_slist_free_all(headers);
    /* The slist held a copy of the token header; wipe ours. */
    if (token_header.data)
        explicit_bzero(token_header.data, token_header.len);
    buf_release(&token_header);
    if (rc == CURLE_OK)
        debug_response(req, resp, time_now() - start);
    *too_large = t.too_large;
    *retry_after = t.retry_after;
    return rc;
}

static double backoff(const struct http_client *c, unsigned n,
                      double retry_after)
{
    double d = c->retry_delay * ldexp(1.0, (int)n - 1);

    if (retry_after > d)
        d = retry_after;
    return d > RETRY_DELAY_MAX ? RETRY_DELAY_MAX : d;
}

static int api_error(const struct http_response *resp, struct error *err)
{
    struct buf msg = BUF_INIT;

    http_error_message(resp->status, resp->body.data, resp->body.len, &msg);
    error_set(err, ERROR_API, (int)resp->status, "%s (HTTP %ld)", buf_str(&msg),
              resp->status);
    buf_release(&msg);
    return -1;
}

int http_send(struct http_client *c, const struct http_request *req,
              struct http_response *resp, struct error *err)
{
    for (unsigned n = 1;; n++) {
        bool too_large = false;
        double retry_after = 0;
        CURLcode rc;
        bool last = n >= c->max_attempts;

        http_response_release(resp);
        if (cancel_requested())
            return interrupted(req, err);
        debug_request(req);
        rc = attempt(c, req, resp, &too_large, &retry_after);
        if (rc == CURLE_ABORTED_BY_CALLBACK && cancel_requested())
            return interrupted(req, err);
        if (rc != CURLE_OK) {
            transport_error(c, req, rc, too_large, err);
            if (last || too_large || !curl_code_is_retryable(rc, req->method))
                return -1;
        } else if (resp->status >= 400) {
            api_error(resp, err);
            if (last || !status_is_retryable(resp->status, req->method))
                return -1;
        } else {
            return 0;
        }
        log_info("%s; retrying (attempt %u of %u)", err->msg, n + 1,
                 c->max_attempts);
        http_sleep(backoff(c, n, retry_after));
    }
}

static const char *reason_phrase(long status)
{
    switch (status) {
    case 400:
        return "bad request";
    case 401:
        return "authentication required or failed";
    case 403:
        return "forbidden";
    case 404:
        return "not found";
    case 405:
        return "method not allowed";
    case 406:
        return "microversion not acceptable";
    case 409:
        return "conflict";
    case 413:
        return "over limit";
    case 500:
        return "internal server error";
    case 502:
        return "bad gateway";
    case 503:
        return "service unavailable";
    case 504:
        return "gateway timeout";
    default:
        return status >= 500 ? "server error" : "request refused";
    }
}

/* The "message" of an object, or of its only member that is an object
 * with a message (Nova/Cinder faults such as {"itemNotFound": {...}}). */
static const char *fault_message(json_t *root)
{
    const char *key;
    json_t *v;
    json_t *m;

    m = json_object_get(root, "message");
    if (json_is_string(m))
        return json_string_value(m);
    m = json_object_get(json_object_get(root, "error"), "message");
    if (json_is_string(m))
        return json_string_value(m);
    v = json_array_get(json_object_get(root, "errors"), 0);
    m = json_object_get(v, "detail");
    if (!json_is_string(m))
        m = json_object_get(v, "title");
    if (json_is_string(m))
        return json_string_value(m);
    json_object_foreach(root, key, v)
    {
        m = json_object_get(v, "message");
        if (json_is_string(m))
            return json_string_value(m);
    }
    return NULL;
}

/* Plain-text bodies (webob, proxies): whitespace collapsed, one line. */
static void add_plain_text(struct buf *out, const char *body, size_t len)
{
    bool space = false;
    size_t start = out->len;

    for (size_t i = 0; i < len && out->len - start < 200; i++) {
        unsigned char ch = (unsigned char)body[i];

        if (isspace(ch)) {
            space = out->len > start;
            continue;
        }
        if (!isprint(ch))
            continue;
        if (space)
            buf_adds(out, " ");
        space = false;
        buf_add(out, &body[i], 1);
    }
}

void http_error_message(long status, const char *body, size_t len,
                        struct buf *out)
{
    json_error_t jerr;
    json_t *root = NULL;
    const char *msg = NULL;
    size_t start = out->len;

    if (body && len)
        root = json_loadb(body, len, 0, &jerr);
    if (json_is_object(root))
        msg = fault_message(root);
    if (msg && *msg) {
        buf_adds(out, msg);
        /* Keystone and oslo messages often end with a newline. */
        while (out->len > start &&
               isspace((unsigned char)out->data[out->len - 1]))
            out->data[--out->len] = '\0';
    } else if (!root && body && len && body[0] != '<') {
        add_plain_text(out, body, len);
    }
    if (out->len == start)
        buf_adds(out, reason_phrase(status));
    json_decref(root);
}

int http_json_parse(const char *text, size_t len, const char *what,
                    struct json_t **out, struct error *err)
{
    json_t *root = NULL;

    *out = NULL;
    if (jsonx_parse(text, len, what, &root, err) < 0)
        return -1;
    if (!json_is_object(root)) {
        json_decref(root);
        return error_set(err, ERROR_PROTOCOL, 0,
                         "unexpected JSON in %s: not an object", what);
    }
    *out = root;
    return 0;
}

char *http_json_strdup(const struct json_t *obj, const char *key)
{
    return xstrdup(jsonx_get_string(obj, key));
}

bool http_json_bool(const struct json_t *obj, const char *key, bool dflt)
{
    json_t *v = json_object_get(obj, key);

    if (json_is_boolean(v))
        return json_is_true(v);
    if (json_is_string(v)) {
        if (!strcasecmp(json_string_value(v), "true"))
            return true;
        if (!strcasecmp(json_string_value(v), "false"))
            return false;
    }
    return dflt;
}

int64_t http_json_int(const struct json_t *obj, const char *key, int64_t dflt)
{
    json_t *v = json_object_get(obj, key);

    if (json_is_integer(v))
        return (int64_t)json_integer_value(v);
    if (json_is_real(v)) {
        double d = json_real_value(v);

        if (d == floor(d) && fabs(d) < 9.0e18)
            return (int64_t)d;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end = NULL;
        long long n;

        errno = 0;
        n = strtoll(s, &end, 10);
        if (!errno && end != s && *end == '\0')
            return (int64_t)n;
    }
    return dflt;
}

double http_json_number(const struct json_t *obj, const char *key, double dflt)
{
    json_t *v = json_object_get(obj, key);

    return json_is_number(v) ? json_number_value(v) : dflt;
}

char *http_json_dump(const struct json_t *v)
{
    return json_dumps(v, JSON_COMPACT);
}

void http_url_escape(struct buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";

    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;

        if (isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
            buf_add(b, s, 1);
        } else {
            char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};

            buf_add(b, e, 3);
        }
    }
}

bool http_is_uuid(const char *s)
{
    if (!s || strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;

        if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
            return false;
    }
    return true;
}
