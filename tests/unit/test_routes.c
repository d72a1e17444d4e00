/*
 * test_routes.c: the server's route table (src/server/routes.c).
 *
 * The table must be sorted by (path, method) (lookup is a binary search),
 * complete (every entry has a handler), and equal to the paths and methods
 * of docs/openapi.json in both directions, so the published spec can never
 * drift from what the server answers. Also the lookup's 404/405 answers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <jansson.h>
#include <string.h>
#include <strings.h>

#include "server/server.h"
#include "testutil.h"

static void test_sorted_and_complete(void **state)
{
    (void)state;
    assert_true(cw_srv_nroutes > 0);
    for (size_t i = 0; i < cw_srv_nroutes; i++) {
        const struct cw_srv_route *r = &cw_srv_routes[i];
        assert_non_null(r->fn);
        assert_non_null(r->path);
        assert_true(r->path[0] == '/');
        assert_true(!strcmp(r->method, "GET") || !strcmp(r->method, "POST") ||
                    !strcmp(r->method, "PUT") || !strcmp(r->method, "DELETE"));
        if ((r->flags & CW_ROUTE_CORS))
            assert_string_equal(r->method, "POST");
        if (i == 0)
            continue;
        const struct cw_srv_route *p = &cw_srv_routes[i - 1];
        int c = strcmp(p->path, r->path);
        if (c == 0)
            c = strcmp(p->method, r->method);
        if (c >= 0)
            fail_msg("routes not sorted: %s %s before %s %s", p->method,
                     p->path, r->method, r->path);
    }
}

static void test_find(void **state)
{
    (void)state;
    int known;
    char allow[64];
    for (size_t i = 0; i < cw_srv_nroutes; i++) {
        long ix =
            cw_srv_route_find(cw_srv_routes[i].path, cw_srv_routes[i].method,
                              &known, allow, sizeof(allow));
        assert_int_equal(ix, (long)i);
    }
    assert_int_equal(
        cw_srv_route_find("/v1/decide", "GET", &known, allow, sizeof(allow)),
        -1);
    assert_int_equal(known, 1);
    assert_string_equal(allow, "POST");
    assert_int_equal(
        cw_srv_route_find("/v1/nope", "GET", &known, allow, sizeof(allow)), -1);
    assert_int_equal(known, 0);
    assert_int_equal(
        cw_srv_route_find("/", "POST", &known, allow, sizeof(allow)), -1);
    assert_int_equal(known, 1);
    assert_string_equal(allow, "GET");
    assert_int_equal(
        cw_srv_route_find("/demo", "GET", &known, allow, sizeof(allow)), -1);
    assert_int_equal(known, 0);
    assert_int_equal(
        cw_srv_route_find("/v1/decide/", "POST", &known, allow, sizeof(allow)),
        -1);
    assert_int_equal(known, 0);
    assert_int_equal(cw_srv_route_find("/zzz", "GET", &known, NULL, 0), -1);
}

static int has_route(const char *path, const char *method)
{
    for (size_t i = 0; i < cw_srv_nroutes; i++)
        if (!strcmp(cw_srv_routes[i].path, path) &&
            !strcasecmp(cw_srv_routes[i].method, method))
            return 1;
    return 0;
}

static const char *const http_methods[] = {"get",   "put",  "post",    "delete",
                                           "patch", "head", "options", "trace"};

static void test_matches_openapi(void **state)
{
    (void)state;
    json_error_t je;
    /* ctest runs the tests from the source directory */
    json_t *doc = json_load_file("docs/openapi.json", 0, &je);
    if (!doc)
        fail_msg("cannot read docs/openapi.json: %s (line %d)", je.text,
                 je.line);
    json_t *paths = json_object_get(doc, "paths");
    assert_true(json_is_object(paths));
    const char *path;
    json_t *item;
    size_t in_spec = 0;
    json_object_foreach(paths, path, item)
    {
        for (size_t m = 0; m < sizeof(http_methods) / sizeof(*http_methods);
             m++) {
            if (!json_object_get(item, http_methods[m]))
                continue;
            if (!strcmp(http_methods[m], "options"))
                continue; /* CORS preflights are answered by server.c */
            in_spec++;
            if (!has_route(path, http_methods[m]))
                fail_msg("docs/openapi.json has %s %s, the server does not",
                         http_methods[m], path);
        }
    }
    for (size_t i = 0; i < cw_srv_nroutes; i++) {
        json_t *it = json_object_get(paths, cw_srv_routes[i].path);
        char lower[16];
        size_t n = strlen(cw_srv_routes[i].method);
        for (size_t k = 0; k <= n && k < sizeof(lower); k++)
            lower[k] = (char)(cw_srv_routes[i].method[k] |
                              (cw_srv_routes[i].method[k] ? 0x20 : 0));
        if (!it || !json_object_get(it, lower))
            fail_msg("%s %s is served but not in docs/openapi.json",
                     cw_srv_routes[i].method, cw_srv_routes[i].path);
    }
    assert_int_equal(in_spec, cw_srv_nroutes);
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TU_TEST(test_sorted_and_complete),
        TU_TEST(test_find),
        TU_TEST(test_matches_openapi),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
