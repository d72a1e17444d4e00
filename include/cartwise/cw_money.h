/*
 * cw_money.h: money as int64 minor units with an ISO-4217 currency code.
 *
 * Never double: prices are parsed from their decimal text straight into
 * minor units, rounding half away from zero past the currency's exponent
 * (UCI Online Retail has a few prices with three decimals).
 */
#ifndef CW_MONEY_H
#define CW_MONEY_H

#include <stddef.h>
#include <stdint.h>

#define CW_MONEY_UNKNOWN INT64_MIN /* a price or cost that is not known */

/* Minor-unit exponent of an ISO-4217 code (2 for most, 0 for JPY, KRW...,
 * 3 for BHD, KWD...). Unknown or NULL codes: 2. */
int cw_currency_exponent(const char *code);
/* 1 when code is three capital letters (the form of an ISO-4217 code). */
int cw_currency_valid(const char *code);
/* Parses text such as "2.55", "-1.5", "1,234.50" is NOT accepted (no
 * grouping). Leading/trailing spaces allowed. Returns 0 or CW_EPARSE,
 * CW_ETOOBIG on overflow. */
int cw_money_parse(const char *s, size_t n, int exponent, int64_t *out);
/* Formats minor units as "12.30" into buf (size >= 32). Returns buf. */
char *cw_money_format(int64_t minor, int exponent, char *buf, size_t size);

#endif
