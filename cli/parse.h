/* Option values of the ocimirror command turned into typed values: the one
 * size grammar, counts and ranges, --concurrency. Pure functions: no I/O,
 * no cli state, so tests/cli links this object alone.
 *
 * Every function returns 0 and writes *out, or ERR_INVALID with a message
 * naming the option and the value ("--split: \"512K\" is below 1M"); *out
 * is left untouched on error. The caller prefixes its command name and
 * exits 2 (cli_usage). */
#ifndef CLI_PARSE_H
#define CLI_PARSE_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>

#include "oci/err.h"

/* A size in bytes: DIGITS ["." DIGITS] [(K|M|G|T) ["i"]] ["B"], the unit
 * letters in either case and binary (K = 1024). So "1000", "700M", "4G",
 * "4GB", "4GiB", "4Gi", "1.5M", "512k", "1024B". A fraction is kept to 6
 * digits and the result rounded down to whole bytes. Refused: signs,
 * spaces, exponents, hex, an "i" without a unit letter ("1024i",
 * "1024iB"), anything after the unit. The value must lie in min..max
 * (inclusive); more than 64 bits is "is too large". */
int cli_parse_size(uint64_t *out, const char *opt, const char *s, uint64_t min,
		   uint64_t max, struct err *err);

/* A decimal integer ("-"? DIGITS, nothing else) in min..max. A "-" when
 * min >= 0 is below min, "-0" too; past int64 is "is too large" (or, when
 * negative, out of range). */
int cli_parse_int(int64_t *out, const char *opt, const char *s, int64_t min,
		  int64_t max, struct err *err);

/* --concurrency N: blob transfers in flight, 1..CLI_CONCURRENCY_MAX. */
#define CLI_CONCURRENCY_DEFAULT 8
#define CLI_CONCURRENCY_MAX 256
int cli_parse_concurrency(int *out, const char *s, struct err *err);

/* The message for getopt_long's error answer ch ('?' or ':'; the option
 * string starts with ":" so getopt prints nothing), called right after it
 * returned, with its optind and optopt and the opts it was given:
 * "unknown option -x", "unknown option --bogus", "option --store needs a
 * value", "option -c needs a value", "option --json takes no value". A
 * short option is named "-C" even in the middle of a cluster ("-xq"),
 * where getopt has not moved optind; a long one by argv[optind - 1] as
 * typed, without "=VALUE". Cut to cap (always terminated). */
void cli_option_error(char *dst, size_t cap, int ch, int opt_ind, int opt_opt,
		      char *const *argv, const struct option *opts);

/* The operands of a command that takes no options, argv[1..*argc-1]:
 * the first "--" ends the options and is removed (argv shifted down, *argc
 * one less, argv[*argc] still NULL); a lone "-" is an operand (a file
 * named "-" or standard input). 0 when every argument is an operand, else
 * the index of the first other one starting with '-' (argv untouched). */
int cli_operands(int *argc, char **argv);

#endif
