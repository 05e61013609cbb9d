/* Fuzzy matching of names and places for `homeward case find` and the
 * duplicate warning of `homeward record child`: pure, no allocation. */
#ifndef HW_CLI_MATCH_INT_H
#define HW_CLI_MATCH_INT_H

#include <stddef.h>

#define HW_CLI_FOLD_MAX 256 /* bytes of a folded text, NUL included */

/* Fold `s` (UTF-8, `len` bytes) for comparison into out[HW_CLI_FOLD_MAX]:
 * ASCII letters lower-cased, Latin-1 and Latin Extended-A letters (U+00C0-
 * U+017F) to their base letters ("É" -> "e", "ß" -> "ss", "Æ" -> "ae"),
 * punctuation and runs of spaces to one space, no leading or trailing space;
 * other characters kept as they are. Truncates at a character boundary. */
void hw_cli_fold(const char *s, size_t len, char *out);

/* Jaro-Winkler similarity of two byte strings, 0 (nothing alike) to 1
 * (equal); strings are compared on their first 64 bytes. */
double hw_cli_jaro_winkler(const char *a, const char *b);

/* How well a folded query matches a folded name: the best of the whole
 * query against the whole name, and the mean over the query's words of each
 * word's best match among the name's words. 0..1. */
double hw_cli_name_score(const char *query, const char *name);

#define HW_CLI_MATCH_LIKELY 0.86 /* a score from here on is a likely match */

#endif
