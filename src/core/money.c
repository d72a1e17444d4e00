/*
 * money.c: decimal text to integer minor units and back (see cw_money.h).
 */
#include <stdio.h>
#include <string.h>

#include "cartwise/cw_err.h"
#include "cartwise/cw_money.h"

int cw_currency_exponent(const char *code)
{
    static const char *const zero[] = {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY",
                                       "KMF", "KRW", "PYG", "RWF", "UGX", "VND",
                                       "VUV", "XAF", "XOF", "XPF"};
    static const char *const three[] = {"BHD", "IQD", "JOD", "KWD",
                                        "LYD", "OMR", "TND"};
    if (!code)
        return 2;
    for (size_t i = 0; i < sizeof(zero) / sizeof(*zero); i++)
        if (!strcmp(code, zero[i]))
            return 0;
    for (size_t i = 0; i < sizeof(three) / sizeof(*three); i++)
        if (!strcmp(code, three[i]))
            return 3;
    return 2;
}

int cw_money_parse(const char *s, size_t n, int exponent, int64_t *out)
{
    size_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    while (n > i && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    int neg = 0;
    if (i < n && (s[i] == '-' || s[i] == '+'))
        neg = s[i++] == '-';
    if (i == n)
        return CW_EPARSE;
    int64_t v = 0;
    int digits = 0, frac = -1, round_up = 0;
    for (; i < n; i++) {
        char c = s[i];
        if (c == '.') {
            if (frac >= 0)
                return CW_EPARSE;
            frac = 0;
            continue;
        }
        if (c < '0' || c > '9')
            return CW_EPARSE;
        digits++;
        if (frac >= exponent) {
            /* past the currency's precision: only the first dropped digit
             * decides the rounding (half away from zero) */
            if (frac == exponent)
                round_up = c >= '5';
            frac++;
            continue;
        }
        if (v > (INT64_MAX - (c - '0')) / 10)
            return CW_ETOOBIG;
        v = v * 10 + (c - '0');
        if (frac >= 0)
            frac++;
    }
    if (!digits)
        return CW_EPARSE;
    int have = frac < 0 ? 0 : (frac > exponent ? exponent : frac);
    for (; have < exponent; have++) {
        if (v > INT64_MAX / 10)
            return CW_ETOOBIG;
        v *= 10;
    }
    if (v > INT64_MAX - round_up)
        return CW_ETOOBIG;
    v += round_up;
    *out = neg ? -v : v;
    return 0;
}

char *cw_money_format(int64_t minor, int exponent, char *buf, size_t size)
{
    uint64_t a = minor < 0 ? (uint64_t)0 - (uint64_t)minor : (uint64_t)minor;
    uint64_t p = 1;
    if (exponent < 0 || exponent > 6)
        exponent = 2;
    for (int i = 0; i < exponent; i++)
        p *= 10;
    if (exponent > 0) {
        char frac[24];
        snprintf(frac, sizeof(frac), "%020llu", (unsigned long long)(a % p));
        snprintf(buf, size, "%s%llu.%s", minor < 0 ? "-" : "",
                 (unsigned long long)(a / p), frac + 20 - exponent);
    } else
        snprintf(buf, size, "%s%llu", minor < 0 ? "-" : "",
                 (unsigned long long)a);
    return buf;
}

int cw_currency_valid(const char *code)
{
    for (int i = 0; i < 3; i++)
        if (code[i] < 'A' || code[i] > 'Z')
            return 0;
    return code[3] == '\0';
}
